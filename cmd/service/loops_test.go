package service_test

import (
	"testing"

	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/commands/dispatch"
)

// A dispatcher held to a provider's limit takes its queue's partitions in
// turns (docs/partition-fairness.md); one without a limit keeps the
// default fetch size. Checked on the loops as Start builds them, so that a
// change to how dispatchers carry their limit cannot turn the turns off
// unnoticed.
func TestRateLimitedDispatchersFetchInTurns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit float64
		want  int32
	}{
		{"a provider with a limit", 300, service.DispatcherFetchBytes},
		{"a provider without a limit", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bulk, prio, err := service.NewDispatchers(service.Config{}, nil, "p", smsprovider.NewSimulated(smsprovider.Config{Name: "p"}), dispatch.NewBudget(tc.limit), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := service.DispatcherLoop(service.Config{}, "p", bulk).PartitionFetchBytes; got != tc.want {
				t.Errorf("campaign queue loop: PartitionFetchBytes %d, want %d", got, tc.want)
			}
			if got := service.PriorityDispatcherLoop(service.Config{}, "p", prio).PartitionFetchBytes; got != tc.want {
				t.Errorf("priority queue loop: PartitionFetchBytes %d, want %d", got, tc.want)
			}
		})
	}
}

package projector_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/projections/campaigns"
)

// The constructors refuse a config that cannot run, naming what is wrong,
// and leave a valid one's zero fields at their documented defaults.
func TestConstructorsValidateAndDefault(t *testing.T) {
	client := kafkalog.ClientConfig{Brokers: []string{"127.0.0.1:1"}}
	pool := &pgxpool.Pool{}
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"a runner without brokers is refused", func() error {
			_, err := projector.NewRunner(projector.RunnerConfig{Pool: pool, Projection: campaigns.Projection{}})
			return err
		}, "no seed brokers"},
		{"a runner without a pool is refused", func() error {
			_, err := projector.NewRunner(projector.RunnerConfig{Client: client, Projection: campaigns.Projection{}})
			return err
		}, "no database pool"},
		{"a runner without a projection is refused", func() error {
			_, err := projector.NewRunner(projector.RunnerConfig{Client: client, Pool: pool})
			return err
		}, "no projection"},
		{"a runner with a negative batch is refused", func() error {
			_, err := projector.NewRunner(projector.RunnerConfig{Client: client, Pool: pool, Projection: campaigns.Projection{}, MaxBatch: -1})
			return err
		}, "negative max batch"},
		{"a rebuilder without a projection is refused", func() error {
			_, err := projector.NewRebuilder(projector.RebuilderConfig{Client: client, Pool: pool})
			return err
		}, "no projection"},
		{"a rebuilder with a negative switch lag is refused", func() error {
			_, err := projector.NewRebuilder(projector.RebuilderConfig{Client: client, Pool: pool, Projection: campaigns.Projection{}, SwitchLag: -1})
			return err
		}, "negative switch lag"},
		{"a rebuilder with a negative stall timeout is refused", func() error {
			_, err := projector.NewRebuilder(projector.RebuilderConfig{Client: client, Pool: pool, Projection: campaigns.Projection{}, StallTimeout: -1})
			return err
		}, "negative stall timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := projector.NewRunner(projector.RunnerConfig{Client: client, Pool: pool, Projection: campaigns.Projection{}, Log: slog.Default()}); err != nil {
		t.Fatalf("valid runner config refused: %v", err)
	}
	if _, err := projector.NewRebuilder(projector.RebuilderConfig{Client: client, Pool: pool, Projection: campaigns.Projection{}}); err != nil {
		t.Fatalf("valid rebuilder config refused: %v", err)
	}
}

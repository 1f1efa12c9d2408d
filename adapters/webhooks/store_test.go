package webhooks_test

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	cmdwh "ziett.co/campaigns/commands/webhooks"
	"ziett.co/campaigns/domain/webhook"
)

// Test events sent at once to one endpoint each get their own sequence:
// the one that loses the race for a sequence runs again instead of
// failing, and each leaves its event, its delivery and one queued job.
func TestConcurrentTestEventsEachGetTheirOwnSequence(t *testing.T) {
	// No sender runs, so the queued jobs stay to be counted.
	e := start(t, servicetest.WithComponents(service.API))
	ctx := t.Context()
	pool, err := postgres.Connect(ctx, e.DBURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	reg := webhooks.NewRegistry(pool)
	ep, _, err := reg.Create(ctx, e.Demo.OrgID, cmdwh.NewEndpoint{URL: "https://hooks.example.com/a", EventTypes: []string{"campaign.completed"}})
	if err != nil {
		t.Fatal(err)
	}

	// Three at once: each round of the race has a winner, so no caller
	// loses more often than its retries allow.
	const n = 3
	sent, errs := make([]uuid.UUID, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { sent[i], errs[i] = reg.SendTest(ctx, e.Demo.OrgID, ep.ID) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("test event %d: %v", i, err)
		}
	}

	rows, _ := pool.Query(ctx, `SELECT sequence FROM webhook_events WHERE campaign_id = $1 AND type = $2 ORDER BY sequence`,
		uuid.Nil, cmdwh.TestEvent)
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || !slices.Equal(seqs, []int{1, 2, 3}) {
		t.Fatalf("test event sequences = %v (%v), want [1 2 3]", seqs, err)
	}
	rows, _ = pool.Query(ctx, `SELECT d.delivery_id FROM webhook_deliveries d JOIN webhook_events e USING (event_id)
		WHERE d.endpoint_id = $1 AND d.status = $2 AND e.type = $3`, ep.ID, webhook.Pending, cmdwh.TestEvent)
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil || !sameIDs(recorded, sent) {
		t.Fatalf("pending deliveries %v (%v), want the %d sent %v", recorded, err, n, sent)
	}
	rows, _ = pool.Query(ctx, `SELECT payload FROM webhook_queue`)
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	var queued []uuid.UUID
	for _, p := range payloads {
		var j webhook.Job
		if err := json.Unmarshal(p, &j); err != nil || j.Attempt != 1 || j.Manual {
			t.Fatalf("queued job %s (%v): want a first scheduled attempt", p, err)
		}
		queued = append(queued, j.DeliveryID)
	}
	if !sameIDs(queued, sent) {
		t.Fatalf("queued jobs for %v, want one for each of %v", queued, sent)
	}
}

func sameIDs(a, b []uuid.UUID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	cmp := func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

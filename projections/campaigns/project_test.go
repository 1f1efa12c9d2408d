package campaigns_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/campaigns"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

// fixture is a two-message campaign's events and a projection that records
// what it announces, applied to a real database.
type fixture struct {
	t          *testing.T
	e          *servicetest.Env
	org, id    uuid.UUID
	at         time.Time
	items      []events.Recipient
	completion events.Message
	p          campaigns.Projection

	mu        sync.Mutex
	announced []campaigns.Change
}

func newFixture(t *testing.T) *fixture {
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	f := &fixture{t: t, e: e, org: e.Demo.OrgID, id: uuid.Must(uuid.NewV7()), at: time.Now().UTC().Truncate(time.Millisecond)}
	f.items = []events.Recipient{
		{Index: 0, Input: "+244923000001", E164: "+244923000001", Provider: "unitel", Cost: 500, MessageID: events.MessageID(f.id, 0)},
		{Index: 1, Input: "+244923000002", E164: "+244923000002", Provider: "unitel", Cost: 500, MessageID: events.MessageID(f.id, 1)},
	}
	f.completion = f.rec(events.OrgStream, events.CampaignCompletedV1{Total: 2, Sent: 2})
	f.p = campaigns.Projection{OnChange: func(_ context.Context, _ pgx.Tx, cs []campaigns.Change) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.announced = append(f.announced, cs...)
		return nil
	}}
	return f
}

func (f *fixture) rec(stream events.Stream, p events.Payload) events.Message {
	env, err := events.New(uuid.Must(uuid.NewV7()), f.org, f.id, p, f.at, "", uuid.Nil, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return events.Message{Stream: stream, Event: env}
}

func (f *fixture) outcome(i int) events.Message {
	return f.rec(events.MessageStream, events.MessageSentV1{MessageOutcome: events.MessageOutcome{
		MessageID: f.items[i].MessageID, Index: i, Provider: "unitel", CampaignTotal: 2, Cost: 500, Currency: "AOA", Attempts: 1}})
}

// queued are the events up to the campaign's messages being queued.
func (f *fixture) queued() []events.Message {
	return []events.Message{
		f.rec(events.OrgStream, events.CampaignAcceptedV1{Name: "order", Content: "Hi", ChannelType: "SMS", CountryAlpha2: "AO",
			RemitterID: f.e.Demo.RemitterID, SenderName: "ZIETT", Recipients: []string{f.items[0].Input, f.items[1].Input}, Currency: "AOA"}),
		f.rec(events.OrgStream, events.CampaignProcessedV1{Recipients: events.RecipientCounts{Submitted: 2, Valid: 2},
			Encoding: "GSM7", SegmentsPerMessage: 1, TotalSegments: 2, Cost: 1000, Currency: "AOA",
			ByProvider: map[string]int{"unitel": 2}, Items: f.items}),
		f.rec(events.OrgStream, events.MessagesEnqueuedV1{Total: 2, ByProvider: map[string]int{"unitel": 2}}),
	}
}

// begin opens a projector transaction on the live generation.
func (f *fixture) begin(ctx context.Context) pgx.Tx {
	f.t.Helper()
	tx, err := f.e.Stack.DB.Begin(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', (SELECT schema_name FROM read_models WHERE name = 'campaigns') || ', public', true)`); err != nil {
		f.t.Fatal(err)
	}
	return tx
}

func (f *fixture) apply(recs ...events.Message) {
	f.t.Helper()
	ctx := context.Background()
	tx := f.begin(ctx)
	defer tx.Rollback(ctx) //nolint:errcheck
	if err := f.p.Apply(ctx, tx, recs); err != nil {
		f.t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) status() string {
	f.t.Helper()
	var s string
	if err := f.e.Stack.DB.QueryRow(context.Background(), `SELECT status FROM campaigns WHERE campaign_id = $1`, f.id).Scan(&s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) completedAnnouncements() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.announced {
		if c.CampaignID == f.id && c.Status == campaigns.StatusCompleted {
			n++
		}
	}
	return n
}

// The completion and the outcomes are read from partitions Kafka does not
// order against each other. Applied completion-first, the campaign must not
// read COMPLETED (nor announce it) until its messages show their outcomes.
func TestCompletedOnlyOnceOutcomesAreIn(t *testing.T) {
	f := newFixture(t)
	f.apply(append(f.queued(), f.outcome(0), f.completion)...)
	if s := f.status(); s != campaigns.StatusSending || f.completedAnnouncements() != 0 {
		t.Fatalf("with one of two outcomes applied: status %s, %d COMPLETED announcements; want SENDING and none", s, f.completedAnnouncements())
	}

	f.apply(f.outcome(1))
	if s := f.status(); s != campaigns.StatusCompleted || f.completedAnnouncements() != 1 {
		t.Fatalf("with every outcome applied: status %s, %d COMPLETED announcements; want COMPLETED and one", s, f.completedAnnouncements())
	}
	v, err := campaigns.Reader{DB: f.e.Stack.DB}.Get(context.Background(), f.org, f.id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Messages.Sent != 2 || v.CompletedAt == nil || !v.CompletedAt.Equal(f.at) {
		t.Fatalf("Retrieve Campaign after completion: sent %d, completed_at %v; want 2 and %v", v.Messages.Sent, v.CompletedAt, f.at)
	}

	// Replaying both batches changes nothing and announces nothing again.
	f.apply(f.completion, f.outcome(0), f.outcome(1))
	if s := f.status(); s != campaigns.StatusCompleted || f.completedAnnouncements() != 1 {
		t.Fatalf("after a replay: status %s, %d COMPLETED announcements; want COMPLETED and one", s, f.completedAnnouncements())
	}
}

// Two projector members apply the completion and the last outcome at the
// same time. Neither transaction can see the other's rows while both are
// open, so the second must wait for the first and then make the switch.
func TestConcurrentCompletionAndLastOutcomeComplete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.apply(append(f.queued(), f.outcome(0))...)

	first := f.begin(ctx)
	defer first.Rollback(ctx) //nolint:errcheck
	if err := f.p.Apply(ctx, first, []events.Message{f.completion}); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		tx := f.begin(ctx)
		defer tx.Rollback(ctx) //nolint:errcheck
		if err := f.p.Apply(ctx, tx, []events.Message{f.outcome(1)}); err != nil {
			second <- err
			return
		}
		second <- tx.Commit(ctx)
	}()
	// The second transaction must be waiting for the first one's lock
	// before the first commits; otherwise it has already decided blind.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := f.e.Stack.DB.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-second:
			t.Fatalf("the last outcome's batch finished (%v) while the completion's batch was still open", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the last outcome's batch never waited for the completion's batch")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if s := f.status(); s != campaigns.StatusCompleted || f.completedAnnouncements() != 1 {
		t.Fatalf("after both batches: status %s, %d COMPLETED announcements; want COMPLETED and one", s, f.completedAnnouncements())
	}
}

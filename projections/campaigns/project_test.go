package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/stack"
	"ziett.co/campaigns/adapters/stack/stacktest"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/campaigns"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// The completion and the outcomes are read from partitions Kafka does not
// order against each other. Applied completion-first, the campaign must not
// read COMPLETED (nor announce it) until its messages show their outcomes.
func TestCompletedOnlyOnceOutcomesAreIn(t *testing.T) {
	e := stacktest.Start(t, stacktest.WithComponents(stack.API))
	ctx := context.Background()
	org, id := e.Demo.OrgID, uuid.Must(uuid.NewV7())
	at := time.Now().UTC().Truncate(time.Millisecond)
	rec := func(topic string, p events.Payload) *kgo.Record {
		env, err := events.New(uuid.Must(uuid.NewV7()), org, id, p, at, "", uuid.Nil, "test")
		if err != nil {
			t.Fatal(err)
		}
		return kafkalog.Encode(topic, org, env)
	}
	items := []events.Recipient{
		{Index: 0, Input: "+244923000001", E164: "+244923000001", Provider: "unitel", Cost: 500, MessageID: events.MessageID(id, 0)},
		{Index: 1, Input: "+244923000002", E164: "+244923000002", Provider: "unitel", Cost: 500, MessageID: events.MessageID(id, 1)},
	}
	outcome := func(i int) *kgo.Record {
		return rec(kafkalog.MessageEvents, events.MessageSentV1{MessageOutcome: events.MessageOutcome{
			MessageID: items[i].MessageID, Index: i, Provider: "unitel", CampaignTotal: 2, Cost: 500, Currency: "AOA", Attempts: 1}})
	}
	completion := rec(kafkalog.OrgEvents, events.CampaignCompletedV1{Total: 2, Sent: 2})

	var announced []campaigns.Change
	p := campaigns.Projection{OnChange: func(_ context.Context, _ pgx.Tx, cs []campaigns.Change) error {
		announced = append(announced, cs...)
		return nil
	}}
	apply := func(recs ...*kgo.Record) {
		t.Helper()
		err := pgx.BeginFunc(ctx, e.Stack.DB, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('search_path', (SELECT schema_name FROM read_models WHERE name = 'campaigns') || ', public', true)`); err != nil {
				return err
			}
			return p.Apply(ctx, tx, recs)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	status := func() string {
		t.Helper()
		var s string
		if err := e.Stack.DB.QueryRow(ctx, `SELECT status FROM campaigns WHERE campaign_id = $1`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	completed := func() int {
		n := 0
		for _, c := range announced {
			if c.CampaignID == id && c.Status == campaigns.StatusCompleted {
				n++
			}
		}
		return n
	}

	apply(rec(kafkalog.OrgEvents, events.CampaignAcceptedV1{Name: "order", Content: "Hi", ChannelType: "SMS", CountryAlpha2: "AO",
		RemitterID: e.Demo.RemitterID, SenderName: "ZIETT", Recipients: []string{items[0].Input, items[1].Input}, Currency: "AOA"}),
		rec(kafkalog.OrgEvents, events.CampaignProcessedV1{Recipients: events.RecipientCounts{Submitted: 2, Valid: 2},
			Encoding: "GSM7", SegmentsPerMessage: 1, TotalSegments: 2, Cost: 1000, Currency: "AOA",
			ByProvider: map[string]int{"unitel": 2}, Items: items}),
		rec(kafkalog.OrgEvents, events.MessagesEnqueuedV1{Total: 2, ByProvider: map[string]int{"unitel": 2}}),
		outcome(0), completion)
	if s := status(); s != campaigns.StatusSending || completed() != 0 {
		t.Fatalf("with one of two outcomes applied: status %s, %d COMPLETED announcements; want SENDING and none", s, completed())
	}

	apply(outcome(1))
	if s := status(); s != campaigns.StatusCompleted || completed() != 1 {
		t.Fatalf("with every outcome applied: status %s, %d COMPLETED announcements; want COMPLETED and one", s, completed())
	}
	v, err := campaigns.Reader{DB: e.Stack.DB}.Get(ctx, org, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Messages.Sent != 2 || v.CompletedAt == nil || !v.CompletedAt.Equal(at) {
		t.Fatalf("Retrieve Campaign after completion: sent %d, completed_at %v; want 2 and %v", v.Messages.Sent, v.CompletedAt, at)
	}

	// Replaying both batches changes nothing and announces nothing again.
	apply(completion, outcome(0), outcome(1))
	if s := status(); s != campaigns.StatusCompleted || completed() != 1 {
		t.Fatalf("after a replay: status %s, %d COMPLETED announcements; want COMPLETED and one", s, completed())
	}
}

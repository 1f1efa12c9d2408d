package complete

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
)

// messageLog names the log in snapshots; the monitor keys its state by shard only.
const messageLog = "message-events"

var (
	org   = uuid.MustParse("019b4b56-e704-7c30-83a0-527df63c3e00")
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func outcome(t *testing.T, cid uuid.UUID, idx, total int, ok bool) events.Message {
	t.Helper()
	o := events.MessageOutcome{MessageID: events.MessageID(cid, idx), Index: idx, CampaignTotal: total, Cost: 500, Currency: "AOA", Attempts: 1}
	var p events.Payload = events.MessageSentV1{MessageOutcome: o}
	if !ok {
		p = events.MessageFailedV1{MessageOutcome: o}
	}
	env, err := events.New(events.DerivedID(o.MessageID, p.EventType(), 0), org, cid, p, time.Now(), "", o.MessageID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return events.OnMessageStream(env)
}

func run(t *testing.T, m *Monitor, recs ...events.Message) []events.Envelope {
	t.Helper()
	var out []events.Envelope
	got, err := m.Handle(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range got {
		if o.Stream != events.OrgStream {
			t.Fatalf("%s on the %s stream", o.Event.Type, o.Stream)
		}
		out = append(out, o.Event)
	}
	return out
}

// Outcomes carry the recipient's index in the submitted list, which can
// exceed the number of messages when some recipients were invalid.
func TestSparseIndexes(t *testing.T) {
	m := NewMonitor(Config{Log: quiet})
	cid := uuid.New()
	run(t, m, outcome(t, cid, 997, 2, true))
	out := run(t, m, outcome(t, cid, 3, 2, false))
	if len(out) != 2 || out[1].Type != events.CampaignCompleted {
		t.Fatalf("outputs %v, want the campaign completed", out)
	}
}

func TestCompletesOnceWithRefund(t *testing.T) {
	m := NewMonitor(Config{Log: quiet})
	cid := uuid.New()
	if out := run(t, m, outcome(t, cid, 0, 3, true), outcome(t, cid, 1, 3, false), outcome(t, cid, 1, 3, false)); len(out) != 0 {
		t.Fatalf("completed early (a duplicate outcome counted?): %v", out)
	}
	out := run(t, m, outcome(t, cid, 2, 3, true))
	if len(out) != 2 || out[0].Type != events.FundsRefunded || out[1].Type != events.CampaignCompleted {
		t.Fatalf("outputs %v, want FundsRefunded then CampaignCompleted", out)
	}
	var r events.FundsRefundedV1
	var c events.CampaignCompletedV1
	if out[0].Decode(&r) != nil || out[1].Decode(&c) != nil || r.Amount != 500 || r.Messages != 1 ||
		c != (events.CampaignCompletedV1{Total: 3, Sent: 2, Failed: 1, Refunded: 500}) {
		t.Fatalf("refund %+v, completion %+v", r, c)
	}
	if out[1].ID != events.DerivedID(cid, events.CampaignCompleted, 0) || out[0].OrgID != org {
		t.Fatal("completion id is not derived from the campaign")
	}
	if out := run(t, m, outcome(t, cid, 2, 3, true)); len(out) != 0 {
		t.Fatalf("a late duplicate reopened the campaign: %v", out)
	}
	if m.Open(0) != 0 {
		t.Fatal("a completed campaign is still open")
	}
}

// A monitor restored from a mid-campaign snapshot completes the campaign
// exactly as the original would.
func TestSnapshotMidCampaign(t *testing.T) {
	a := NewMonitor(Config{Log: quiet})
	done, open := uuid.New(), uuid.New()
	run(t, a, outcome(t, done, 0, 1, true), outcome(t, open, 0, 12, true), outcome(t, open, 9, 12, false))
	snap, err := a.Snapshot(messageLog, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := NewMonitor(Config{Log: quiet})
	if err := b.Restore(messageLog, 0, snap); err != nil {
		t.Fatal(err)
	}
	var rest []events.Message
	for i := 1; i < 12; i++ {
		if i != 9 {
			rest = append(rest, outcome(t, open, i, 12, true))
		}
	}
	rest = append(rest, outcome(t, done, 0, 1, true), outcome(t, open, 9, 12, false))
	out := run(t, b, rest...)
	if len(out) != 2 || out[1].CampaignID != open {
		t.Fatalf("restored monitor emitted %v, want the open campaign's refund and completion only", out)
	}
	var c events.CampaignCompletedV1
	if out[1].Decode(&c) != nil || c != (events.CampaignCompletedV1{Total: 12, Sent: 11, Failed: 1, Refunded: 500}) {
		t.Fatalf("completion %+v", c)
	}
	if err := b.Restore(messageLog, 0, []byte(`{"open":{"`+open.String()+`":{"total":0,"seen":""}}}`)); err == nil {
		t.Fatal("a tally of a campaign without messages was restored")
	}
}

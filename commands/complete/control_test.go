package complete

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
)

func controlRec(t *testing.T, cid uuid.UUID, p events.Payload) events.Message {
	t.Helper()
	env, err := events.New(uuid.New(), org, cid, p, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	return events.OnMessageStream(env)
}

func held(t *testing.T, cid uuid.UUID, idx, total int) events.Message {
	t.Helper()
	return controlRec(t, cid, events.MessageHeldV1{Delivery: events.Delivery{
		MessageID: events.MessageID(cid, idx), CampaignID: cid, OrgID: org, Index: idx, To: "+244923000000",
		Provider: "unitel", Cost: 500, Currency: "AOA", CampaignTotal: total, Segments: 1,
	}})
}

// what summarises outputs: "deliveries.unitel#idx" for a delivery put back,
// the event type otherwise.
func what(t *testing.T, recs []events.Message) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		if r.Stream == events.Deliveries {
			d := r.Delivery
			out = append(out, "requeued#"+string(rune('0'+d.Index))+"/"+string(rune('0'+d.Requeued)))
			continue
		}
		out = append(out, string(r.Event.Type))
	}
	return out
}

func TestControl(t *testing.T) {
	paused := events.CampaignPausedV1{}
	resumed := events.CampaignResumedV1{}
	cancelled := events.CampaignCancelledV1{}
	type step struct {
		rec  func(t *testing.T, cid uuid.UUID) events.Message
		want []string // outputs of this step
	}
	ctl := func(p events.Payload) func(*testing.T, uuid.UUID) events.Message {
		return func(t *testing.T, cid uuid.UUID) events.Message { return controlRec(t, cid, p) }
	}
	hold := func(idx int) func(*testing.T, uuid.UUID) events.Message {
		return func(t *testing.T, cid uuid.UUID) events.Message { return held(t, cid, idx, 3) }
	}
	out := func(idx int, ok bool) func(*testing.T, uuid.UUID) events.Message {
		return func(t *testing.T, cid uuid.UUID) events.Message { return outcome(t, cid, idx, 3, ok) }
	}
	cancelledMsg := func(idx int) func(*testing.T, uuid.UUID) events.Message {
		return func(t *testing.T, cid uuid.UUID) events.Message {
			o := events.MessageOutcome{MessageID: events.MessageID(cid, idx), Index: idx, CampaignTotal: 3, Cost: 500, Currency: "AOA"}
			return controlRec(t, cid, events.MessageCancelledV1{MessageOutcome: o})
		}
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"held messages wait for the resume and go back in the order held", []step{
			{ctl(paused), nil},
			{hold(2), nil},
			{hold(1), nil},
			{ctl(resumed), []string{"requeued#2/1", "requeued#1/1"}},
		}},
		{"a message held after the resume goes back at once", []step{
			{ctl(paused), nil},
			{ctl(resumed), nil},
			{hold(1), []string{"requeued#1/1"}},
		}},
		{"cancel cancels what is held, and what is held later", []step{
			{ctl(paused), nil},
			{hold(0), nil},
			{ctl(cancelled), []string{"MessageCancelled"}},
			{hold(1), []string{"MessageCancelled"}},
		}},
		{"a resume after the cancel puts nothing back", []step{
			{ctl(paused), nil},
			{ctl(cancelled), nil},
			{hold(0), []string{"MessageCancelled"}},
			{ctl(resumed), nil},
		}},
		{"cancelled messages close the campaign and are refunded with the failed ones", []step{
			{out(0, true), nil},
			{out(1, false), nil},
			{cancelledMsg(2), []string{"FundsRefunded", "CampaignCompleted"}},
		}},
		{"a campaign does not complete while messages are held", []step{
			{out(0, true), nil},
			{ctl(paused), nil},
			{hold(1), nil},
			{hold(2), nil},
			{ctl(resumed), []string{"requeued#1/1", "requeued#2/1"}},
			{out(1, true), nil},
			{out(2, true), []string{"CampaignCompleted"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMonitor(Config{Log: quiet})
			cid := uuid.New()
			var all []events.Message
			for i, s := range tc.steps {
				r := s.rec(t, cid)
				all = append(all, r)
				got, err := m.Handle(t.Context(), []events.Message{r})
				if err != nil {
					t.Fatal(err)
				}
				if w := what(t, got); !slices.Equal(w, s.want) {
					t.Fatalf("step %d: outputs %v, want %v", i, w, s.want)
				}
			}
			// Folding the same records rebuilds the same state: a monitor
			// that took the partition over emits nothing for them and
			// holds what the first one held.
			f := NewMonitor(Config{Log: quiet})
			for _, r := range all {
				f.Fold(r)
			}
			if a, b := len(m.part(0).Control), len(f.part(0).Control); a != b {
				t.Fatalf("controls after handling %d, after folding %d", a, b)
			}
			for id, c := range m.part(0).Control {
				if fc := f.part(0).Control[id]; fc == nil || fc.State != c.State || len(fc.Held) != len(c.Held) {
					t.Fatalf("campaign %s: handled %+v, folded %+v", id, c, fc)
				}
			}
		})
	}
}

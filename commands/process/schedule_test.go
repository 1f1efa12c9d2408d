package process

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/plan"
)

func TestSchedule(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	scheduledCampaign := func() events.CampaignAcceptedV1 {
		c := accepted("+244923456789", "+244923456780")
		c.SendAt = &later
		return c
	}
	type step struct {
		p    func(cid uuid.UUID) events.Payload
		at   time.Time // the processor's clock
		want string    // org-stream outputs
		// forwarded is whether a cancellation went to the message stream.
		forwarded bool
	}
	acceptedLater := func(uuid.UUID) events.Payload { return scheduledCampaign() }
	release := func(uuid.UUID) events.Payload { return events.CampaignReleasedV1{ReleasedAt: later} }
	cancel := func(uuid.UUID) events.Payload { return events.CampaignCancelledV1{} }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a campaign with a future send_at is held, then processed on release", []step{
			{p: acceptedLater, at: now, want: "CampaignScheduled"},
			{p: release, at: later, want: "CampaignProcessed,FundsDebited,MessagesEnqueued"},
		}},
		{"a second release does nothing", []step{
			{p: acceptedLater, at: now, want: "CampaignScheduled"},
			{p: release, at: later, want: "CampaignProcessed,FundsDebited,MessagesEnqueued"},
			{p: release, at: later, want: ""},
		}},
		{"a send_at already past when processed is processed at once", []step{
			{p: acceptedLater, at: later.Add(time.Second), want: "CampaignProcessed,FundsDebited,MessagesEnqueued"},
		}},
		{"a cancelled scheduled campaign is dropped and never processed", []step{
			{p: acceptedLater, at: now, want: "CampaignScheduled"},
			{p: cancel, at: now, want: ""},
			{p: release, at: later, want: ""},
		}},
		{"a cancellation after processing goes on to the message stream", []step{
			{p: acceptedLater, at: now, want: "CampaignScheduled"},
			{p: release, at: later, want: "CampaignProcessed,FundsDebited,MessagesEnqueued"},
			{p: cancel, at: later, want: "", forwarded: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
			handle(t, p, rec(t, 0, uuid.Nil, events.FundsCreditedV1{Amount: 100_000, Currency: "AOA"}))
			cid := uuid.New()
			var log []*events.Message
			for i, s := range tc.steps {
				p.Now = func() time.Time { return s.at }
				r := rec(t, int64(i+1), cid, s.p(cid))
				log = append(log, r)
				var out []events.Envelope
				forwarded := false
				outs, err := p.Handle(t.Context(), []events.Message{*r})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range outs {
					switch o.Stream {
					case events.OrgStream:
						out = append(out, o.Event)
						log = append(log, at(int64(len(log)+1), o.Event))
					case events.MessageStream:
						if e := o.Event; e.Type != events.CampaignCancelled || e.CampaignID != cid {
							t.Fatalf("message-stream output %v", e.Type)
						}
						forwarded = true
					}
				}
				if types(out) != s.want || forwarded != s.forwarded {
					t.Fatalf("step %d: outputs %q forwarded %v, want %q forwarded %v", i, types(out), forwarded, s.want, s.forwarded)
				}
			}
			// A processor that rebuilt the partition from the log, or from
			// a snapshot of it, holds the same scheduled campaigns.
			f := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
			for _, r := range log {
				f.Fold(*r)
			}
			snap, err := p.Snapshot(orgLog, 0)
			if err != nil {
				t.Fatal(err)
			}
			s := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
			if err := s.Restore(orgLog, 0, snap); err != nil {
				t.Fatal(err)
			}
			if a, b, c := len(p.Scheduled(0)), len(f.Scheduled(0)), len(s.Scheduled(0)); a != b || a != c {
				t.Fatalf("scheduled: %d handled, %d folded, %d restored", a, b, c)
			}
		})
	}
}

// A scheduled campaign restored from a snapshot is processed on release
// with the request it was accepted with.
func TestScheduledCampaignSurvivesASnapshot(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	a := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
	a.Now = func() time.Time { return now }
	handle(t, a, rec(t, 0, uuid.Nil, events.FundsCreditedV1{Amount: 100_000, Currency: "AOA"}))
	cid := uuid.New()
	c := accepted("+244923456789", "+244923456780")
	c.SendAt = &later
	handle(t, a, rec(t, 1, cid, c))
	snap, err := a.Snapshot(orgLog, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
	if err := b.Restore(orgLog, 0, snap); err != nil {
		t.Fatal(err)
	}
	b.Now = func() time.Time { return later }
	out := handle(t, b, rec(t, 3, cid, events.CampaignReleasedV1{ReleasedAt: later}))
	if types(out) != "CampaignProcessed,FundsDebited,MessagesEnqueued" {
		t.Fatalf("restored processor on release: %s", types(out))
	}
	var pr events.CampaignProcessedV1
	if err := out[0].Decode(&pr); err != nil || pr.Recipients.Valid != 2 || out[0].CampaignID != cid {
		t.Fatalf("processed %+v (%v)", pr.Recipients, err)
	}
}

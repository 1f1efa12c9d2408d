package campaign

import (
	"testing"

	"ziett.co/campaigns/domain/events"
)

// moves is the state machine as behaviours: each row an event applied to a
// campaign in a status, and the status it leaves (moved false: the event
// leaves the status as it is).
var moves = []struct {
	name  string
	from  Status
	event events.Type
	to    Status
	moved bool
}{
	{"an accepted campaign starts processing", StatusNone, events.CampaignAccepted, StatusProcessing, true},
	{"accepting a campaign again changes nothing", StatusSending, events.CampaignAccepted, StatusSending, false},
	{"a processing campaign with a send_at is scheduled", StatusProcessing, events.CampaignScheduled, StatusScheduled, true},
	{"a cancelled campaign is not scheduled", StatusCancelled, events.CampaignScheduled, StatusCancelled, false},
	{"a scheduled campaign is released to processing", StatusScheduled, events.CampaignReleased, StatusProcessing, true},
	{"releasing a campaign again changes nothing", StatusProcessing, events.CampaignReleased, StatusProcessing, false},
	{"a cancelled scheduled campaign is not released", StatusCancelled, events.CampaignReleased, StatusCancelled, false},
	{"a processing campaign starts sending once its messages are queued", StatusProcessing, events.MessagesEnqueued, StatusSending, true},
	{"a campaign paused before its messages were queued stays paused", StatusPaused, events.MessagesEnqueued, StatusPaused, false},
	{"a campaign cancelled before its messages were queued stays cancelled", StatusCancelled, events.MessagesEnqueued, StatusCancelled, false},
	{"a processing campaign pauses", StatusProcessing, events.CampaignPaused, StatusPaused, true},
	{"a sending campaign pauses", StatusSending, events.CampaignPaused, StatusPaused, true},
	{"a paused campaign is not paused again", StatusPaused, events.CampaignPaused, StatusPaused, false},
	{"a scheduled campaign does not pause", StatusScheduled, events.CampaignPaused, StatusScheduled, false},
	{"a completed campaign does not pause", StatusCompleted, events.CampaignPaused, StatusCompleted, false},
	{"a paused campaign resumes sending", StatusPaused, events.CampaignResumed, StatusSending, true},
	{"a sending campaign does not resume", StatusSending, events.CampaignResumed, StatusSending, false},
	{"a cancelled campaign does not resume", StatusCancelled, events.CampaignResumed, StatusCancelled, false},
	{"a sending campaign completes", StatusSending, events.CampaignCompleted, StatusCompleted, true},
	{"a paused campaign whose messages all ended completes", StatusPaused, events.CampaignCompleted, StatusCompleted, true},
	{"a cancelled campaign stays cancelled when its messages end", StatusCancelled, events.CampaignCompleted, StatusCancelled, false},
	{"a processing campaign does not complete", StatusProcessing, events.CampaignCompleted, StatusProcessing, false},
	{"a failed campaign does not complete", StatusFailed, events.CampaignCompleted, StatusFailed, false},
	{"a scheduled campaign cancels", StatusScheduled, events.CampaignCancelled, StatusCancelled, true},
	{"a processing campaign cancels", StatusProcessing, events.CampaignCancelled, StatusCancelled, true},
	{"a sending campaign cancels", StatusSending, events.CampaignCancelled, StatusCancelled, true},
	{"a paused campaign cancels", StatusPaused, events.CampaignCancelled, StatusCancelled, true},
	{"cancelling a cancelled campaign keeps it cancelled", StatusCancelled, events.CampaignCancelled, StatusCancelled, true},
	{"a completed campaign is not cancelled", StatusCompleted, events.CampaignCancelled, StatusCompleted, false},
	{"a failed campaign is not cancelled", StatusFailed, events.CampaignCancelled, StatusFailed, false},
	{"a scheduled campaign fails", StatusScheduled, events.CampaignFailed, StatusFailed, true},
	{"a processing campaign fails", StatusProcessing, events.CampaignFailed, StatusFailed, true},
	{"a sending campaign fails", StatusSending, events.CampaignFailed, StatusFailed, true},
	{"a paused campaign fails", StatusPaused, events.CampaignFailed, StatusFailed, true},
	{"a completed campaign fails", StatusCompleted, events.CampaignFailed, StatusFailed, true},
	{"failing a failed campaign keeps it failed", StatusFailed, events.CampaignFailed, StatusFailed, true},
	{"a cancelled campaign that fails in processing shows FAILED", StatusCancelled, events.CampaignFailed, StatusFailed, true},
	{"a debit moves no status", StatusProcessing, events.FundsDebited, StatusProcessing, false},
	{"a message outcome moves no status", StatusSending, events.MessageSent, StatusSending, false},
}

func TestNext(t *testing.T) {
	for _, tc := range moves {
		t.Run(tc.name, func(t *testing.T) {
			to, moved := Next(tc.from, tc.event)
			if to != tc.to || moved != tc.moved {
				t.Fatalf("Next(%q, %s) = %q, %v; want %q, %v", tc.from, tc.event, to, moved, tc.to, tc.moved)
			}
		})
	}
}

// Every move the machine allows is a behaviour named in moves, and From and
// To agree with Next: a move cannot be added without its row.
func TestEveryMoveIsNamed(t *testing.T) {
	named := map[Status]map[events.Type]bool{}
	for _, tc := range moves {
		if tc.moved {
			if named[tc.from] == nil {
				named[tc.from] = map[events.Type]bool{}
			}
			named[tc.from][tc.event] = true
		}
	}
	for ev := range transitions {
		from := map[Status]bool{}
		for _, s := range From(ev) {
			from[s] = true
		}
		target, ok := To(ev)
		if !ok {
			t.Fatalf("To(%s) reports no move", ev)
		}
		for _, s := range append([]Status{StatusNone}, Statuses...) {
			to, moved := Next(s, ev)
			if moved != from[s] || (moved && to != target) || (!moved && to != s) {
				t.Errorf("Next(%q, %s) = %q, %v; From says %v, To says %q", s, ev, to, moved, from[s], target)
			}
			if moved && !named[s][ev] {
				t.Errorf("%s moves a %q campaign to %q, but no row of moves names it", ev, s, to)
			}
		}
	}
}

func TestAnnounced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream events.Stream
		event  events.Type
		status Status
		ok     bool
	}{
		{"an accepted campaign announces PROCESSING", events.OrgStream, events.CampaignAccepted, StatusProcessing, true},
		{"a scheduled campaign announces SCHEDULED", events.OrgStream, events.CampaignScheduled, StatusScheduled, true},
		{"a released campaign announces PROCESSING", events.OrgStream, events.CampaignReleased, StatusProcessing, true},
		{"queued messages announce SENDING", events.OrgStream, events.MessagesEnqueued, StatusSending, true},
		{"a pause announces PAUSED", events.MessageStream, events.CampaignPaused, StatusPaused, true},
		{"a resume announces SENDING", events.MessageStream, events.CampaignResumed, StatusSending, true},
		{"the customer's cancellation announces CANCELLED", events.OrgStream, events.CampaignCancelled, StatusCancelled, true},
		{"a cancellation passed on to the message stream announces nothing", events.MessageStream, events.CampaignCancelled, StatusNone, false},
		{"a failure announces FAILED", events.OrgStream, events.CampaignFailed, StatusFailed, true},
		{"a completion is announced when made, not when read", events.OrgStream, events.CampaignCompleted, StatusNone, false},
		{"a message outcome announces no campaign status", events.MessageStream, events.MessageSent, StatusNone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := events.Message{Stream: tc.stream, Event: events.Envelope{Type: tc.event}}
			status, ok := Announced(m)
			if status != tc.status || ok != tc.ok {
				t.Fatalf("Announced(%s on %v) = %q, %v; want %q, %v", tc.event, tc.stream, status, ok, tc.status, tc.ok)
			}
			if tc.ok && Settles(tc.event) {
				t.Fatalf("%s is announced at once but Settles", tc.event)
			}
		})
	}
}

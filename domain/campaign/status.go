package campaign

import (
	"slices"

	"ziett.co/campaigns/domain/events"
)

// Status is a campaign's state as customers see it.
type Status string

const (
	StatusScheduled  Status = "SCHEDULED"
	StatusProcessing Status = "PROCESSING"
	StatusSending    Status = "SENDING"
	StatusPaused     Status = "PAUSED"
	StatusCompleted  Status = "COMPLETED"
	StatusFailed     Status = "FAILED"
	StatusCancelled  Status = "CANCELLED"
)

// StatusNone is the status of a campaign not yet accepted: there is no
// campaign.
const StatusNone Status = ""

// Statuses are every status a campaign can have, in the order a campaign
// meets them.
var Statuses = []Status{StatusScheduled, StatusProcessing, StatusSending, StatusPaused,
	StatusCompleted, StatusFailed, StatusCancelled}

// Finished reports whether nothing can change the campaign's status any
// more.
func (s Status) Finished() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// transition is how one event moves a campaign's status: to To, from any
// status of From; from any other status the event leaves it as it is.
type transition struct {
	from []Status
	to   Status
	// settled: the move waits until every message of the campaign shows
	// an outcome (the completion may be read before the last outcomes,
	// from a stream not ordered against it).
	settled bool
}

// transitions is the campaign state machine: every event that moves a
// campaign's status, and the statuses it moves it out of.
//
// Every status but COMPLETED and FAILED can be cancelled; a failure is
// shown whatever the status.
var transitions = map[events.Type]transition{
	events.CampaignAccepted:  {from: []Status{StatusNone}, to: StatusProcessing},
	events.CampaignScheduled: {from: []Status{StatusProcessing}, to: StatusScheduled},
	events.CampaignReleased:  {from: []Status{StatusScheduled}, to: StatusProcessing},
	// A campaign paused before its messages were queued stays paused.
	events.MessagesEnqueued: {from: []Status{StatusProcessing}, to: StatusSending},
	events.CampaignPaused:   {from: []Status{StatusProcessing, StatusSending}, to: StatusPaused},
	events.CampaignResumed:  {from: []Status{StatusPaused}, to: StatusSending},
	// A paused campaign whose every message ended completes; a cancelled
	// one stays CANCELLED.
	events.CampaignCompleted: {from: []Status{StatusSending, StatusPaused}, to: StatusCompleted, settled: true},
	// Cancelling a cancelled campaign keeps it cancelled (since the first
	// cancellation); a completed or failed one cannot be cancelled.
	events.CampaignCancelled: {from: []Status{StatusScheduled, StatusProcessing, StatusSending, StatusPaused, StatusCancelled},
		to: StatusCancelled},
	// Processing fails a campaign before its messages are queued, whatever
	// was asked of it meanwhile.
	events.CampaignFailed: {from: Statuses, to: StatusFailed},
}

// Next is the status event t moves a campaign in status from to, and
// whether t moves it at all (an event that moves no campaign, or one not
// allowed from this status, leaves the status as it is). A move that
// waits for the campaign's messages (Settles) is the status it takes once
// they have all ended.
func Next(from Status, t events.Type) (Status, bool) {
	tr, ok := transitions[t]
	if !ok || !slices.Contains(tr.from, from) {
		return from, false
	}
	return tr.to, true
}

// From are the statuses event t moves a campaign out of; nil for an event
// that moves no campaign. The slice is shared: do not modify it.
func From(t events.Type) []Status {
	return transitions[t].from
}

// To is the status event t moves a campaign to, and whether it moves one
// at all.
func To(t events.Type) (Status, bool) {
	tr, ok := transitions[t]
	return tr.to, ok
}

// Settles reports whether event t's move waits until every message of the
// campaign has ended (CampaignCompleted): it is made, and announced, by
// whichever of the completion and the last outcome is applied last.
func Settles(t events.Type) bool {
	return transitions[t].settled
}

// Announced is the status change message m announces as soon as it is
// applied, if any. A status move is announced once, by the event that
// causes it: a cancellation passed on to the message stream repeats the
// customer's, announced already from the organisation stream, and a
// completion is announced when it is made (Settles), not when it is read.
// An announcement does not depend on the status the campaign had (the
// projector announces without reading it), so an event Next refuses from
// that status is announced all the same.
func Announced(m events.Message) (Status, bool) {
	t := m.Event.Type
	tr, ok := transitions[t]
	if !ok || tr.settled || (t == events.CampaignCancelled && m.Stream == events.MessageStream) {
		return StatusNone, false
	}
	return tr.to, true
}

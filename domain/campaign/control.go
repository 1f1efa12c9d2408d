package campaign

import (
	"errors"
	"time"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/problem"
)

// Control is a customer's command on a running campaign.
type Control string

const (
	Pause  Control = "pause"
	Resume Control = "resume"
	Cancel Control = "cancel"
)

// Reasons a control command is refused. Decide returns each as a
// Refusal: a conflict with the campaign's current state, not a malformed
// request.
var (
	// ErrFinished: the campaign completed, failed or was cancelled.
	ErrFinished = errors.New("the campaign has already finished")
	// ErrNotStarted: a scheduled campaign has nothing to pause or resume;
	// it can be cancelled.
	ErrNotStarted = errors.New("the campaign is scheduled and has not started; it can only be cancelled")
	// ErrNotPaused: only a paused campaign can be resumed.
	ErrNotPaused = errors.New("the campaign is not paused")
	// ErrUnknownControl: not one of Pause, Resume, Cancel.
	ErrUnknownControl = errors.New("unknown control")
)

// controlEvents are the events that carry out each control: its status
// moves are theirs in the state machine.
var controlEvents = map[Control]events.Type{
	Pause:  events.CampaignPaused,
	Resume: events.CampaignResumed,
	Cancel: events.CampaignCancelled,
}

// Decide applies a control command to a campaign in status s. It returns the
// status the campaign moves to and whether that is a change (repeating a
// command that already took effect is not an error, so clients can retry),
// or the command's Refusal. The moves are those of the control's event in
// the state machine (Next); pausing a paused campaign is the one repeat the
// machine does not allow (it would pause it a second time).
func Decide(s Status, c Control) (next Status, changed bool, err error) {
	ev, ok := controlEvents[c]
	if !ok {
		return s, false, ErrUnknownControl
	}
	if next, ok := Next(s, ev); ok {
		return next, next != s, nil
	}
	switch {
	case c == Pause && s == StatusPaused:
		return s, false, nil
	case s == StatusScheduled:
		return s, false, Refusal(c, s, ErrNotStarted)
	case s == StatusProcessing || s == StatusSending:
		return s, false, Refusal(c, s, ErrNotPaused)
	}
	return s, false, Refusal(c, s, ErrFinished)
}

// Refusal is the problem of control c refused for reason (ErrFinished,
// ErrNotStarted, ErrNotPaused) on a campaign in status s: a conflict with
// the campaign's state, which errors.Is still finds reason in.
func Refusal(c Control, s Status, reason error) error {
	return problem.New(problem.CodeCampaignState,
		"Cannot "+string(c)+" a "+string(s)+" campaign: "+reason.Error()+".").Because(reason)
}

// Scheduling limits of send_at.
const MaxScheduleAhead = 30 * 24 * time.Hour

// Errors of CheckSendAt.
var (
	ErrSendAtPast   = errors.New("send_at must be in the future")
	ErrSendAtTooFar = errors.New("send_at must be at most 30 days ahead")
)

// CheckSchedule refuses a request whose send_at is outside the window
// CheckSendAt allows, as a field error of send_at.
func CheckSchedule(r Request, now time.Time) error {
	if r.SendAt == nil {
		return nil
	}
	if err := CheckSendAt(*r.SendAt, now); err != nil {
		return problem.InvalidFields(map[string]string{FieldSendAt: "Value error, " + err.Error() + "."}).Because(err)
	}
	return nil
}

// CheckSendAt validates a requested send time against now.
func CheckSendAt(at, now time.Time) error {
	switch {
	case !at.After(now):
		return ErrSendAtPast
	case at.Sub(now) > MaxScheduleAhead:
		return ErrSendAtTooFar
	}
	return nil
}

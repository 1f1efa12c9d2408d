package campaign

import (
	"errors"
	"time"

	"ziett.co/campaigns/domain/problem"
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

// Finished reports whether nothing can change the campaign's status any
// more.
func (s Status) Finished() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

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

// Decide applies a control command to a campaign in status s. It returns the
// status the campaign moves to and whether that is a change (repeating a
// command that already took effect is not an error, so clients can retry),
// or the command's Refusal.
func Decide(s Status, c Control) (next Status, changed bool, err error) {
	switch c {
	case Pause:
		switch s {
		case StatusProcessing, StatusSending:
			return StatusPaused, true, nil
		case StatusPaused:
			return s, false, nil
		case StatusScheduled:
			return s, false, Refusal(c, s, ErrNotStarted)
		}
	case Resume:
		switch s {
		case StatusPaused:
			return StatusSending, true, nil
		case StatusProcessing, StatusSending:
			return s, false, Refusal(c, s, ErrNotPaused)
		case StatusScheduled:
			return s, false, Refusal(c, s, ErrNotStarted)
		}
	case Cancel:
		switch s {
		case StatusScheduled, StatusProcessing, StatusSending, StatusPaused:
			return StatusCancelled, true, nil
		case StatusCancelled:
			return s, false, nil
		}
	default:
		return s, false, ErrUnknownControl
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

package campaign

import (
	"errors"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    Status
		control Control
		next    Status
		changed bool
		err     error
	}{
		{"a sending campaign pauses", StatusSending, Pause, StatusPaused, true, nil},
		{"a processing campaign pauses", StatusProcessing, Pause, StatusPaused, true, nil},
		{"pausing a paused campaign again changes nothing", StatusPaused, Pause, StatusPaused, false, nil},
		{"a scheduled campaign cannot pause", StatusScheduled, Pause, StatusScheduled, false, ErrNotStarted},
		{"a completed campaign cannot pause", StatusCompleted, Pause, StatusCompleted, false, ErrFinished},
		{"a paused campaign resumes sending", StatusPaused, Resume, StatusSending, true, nil},
		{"a sending campaign cannot resume", StatusSending, Resume, StatusSending, false, ErrNotPaused},
		{"a scheduled campaign cannot resume", StatusScheduled, Resume, StatusScheduled, false, ErrNotStarted},
		{"a cancelled campaign cannot resume", StatusCancelled, Resume, StatusCancelled, false, ErrFinished},
		{"a scheduled campaign cancels", StatusScheduled, Cancel, StatusCancelled, true, nil},
		{"a processing campaign cancels", StatusProcessing, Cancel, StatusCancelled, true, nil},
		{"a sending campaign cancels", StatusSending, Cancel, StatusCancelled, true, nil},
		{"a paused campaign cancels", StatusPaused, Cancel, StatusCancelled, true, nil},
		{"cancelling twice changes nothing", StatusCancelled, Cancel, StatusCancelled, false, nil},
		{"a completed campaign cannot cancel", StatusCompleted, Cancel, StatusCompleted, false, ErrFinished},
		{"a failed campaign cannot cancel", StatusFailed, Cancel, StatusFailed, false, ErrFinished},
		{"an unknown command is refused", StatusSending, Control("stop"), StatusSending, false, ErrUnknownControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, changed, err := Decide(tc.from, tc.control)
			if next != tc.next || changed != tc.changed || !errors.Is(err, tc.err) {
				t.Fatalf("Decide(%s, %s) = %s, %v, %v; want %s, %v, %v", tc.from, tc.control, next, changed, err, tc.next, tc.changed, tc.err)
			}
		})
	}
}

func TestCheckSendAt(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		at   time.Time
		err  error
	}{
		{"a minute ahead is fine", now.Add(time.Minute), nil},
		{"exactly 30 days ahead is fine", now.Add(MaxScheduleAhead), nil},
		{"now is not in the future", now, ErrSendAtPast},
		{"the past is refused", now.Add(-time.Hour), ErrSendAtPast},
		{"past 30 days is refused", now.Add(MaxScheduleAhead + time.Second), ErrSendAtTooFar},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckSendAt(tc.at, now); !errors.Is(err, tc.err) {
				t.Fatalf("CheckSendAt = %v, want %v", err, tc.err)
			}
		})
	}
}

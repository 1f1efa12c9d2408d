package control

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
)

type nopLog struct{}

func (nopLog) Append(context.Context, ...events.Message) error { return nil }

type nopCampaigns struct{}

func (nopCampaigns) Status(context.Context, uuid.UUID, uuid.UUID) (campaign.Status, error) {
	return "", nil
}

type nopDue struct{}

func (nopDue) DueScheduled(context.Context, time.Time, int) (map[uuid.UUID]uuid.UUID, error) {
	return nil, nil
}

// The constructors refuse a config that cannot run, naming what is wrong,
// and give a valid one's zero fields their documented defaults.
func TestConstructorsValidateAndDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"a service without a log is refused", func() error { _, err := New(Config{Campaigns: nopCampaigns{}}); return err }, "no log"},
		{"a service without campaigns is refused", func() error { _, err := New(Config{Log: nopLog{}}); return err }, "no campaign reader"},
		{"a service polling at a negative interval is refused", func() error {
			_, err := New(Config{Log: nopLog{}, Campaigns: nopCampaigns{}, Poll: -time.Millisecond})
			return err
		}, "must be positive"},
		{"a scheduler without due campaigns is refused", func() error { _, err := NewScheduler(SchedulerConfig{Log: nopLog{}}); return err }, "no due campaigns"},
		{"a scheduler without a log is refused", func() error { _, err := NewScheduler(SchedulerConfig{Due: nopDue{}}); return err }, "no log"},
		{"a scheduler with a negative interval is refused", func() error {
			_, err := NewScheduler(SchedulerConfig{Due: nopDue{}, Log: nopLog{}, Interval: -time.Second})
			return err
		}, "negative interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	s, err := New(Config{Log: nopLog{}, Campaigns: nopCampaigns{}})
	if err != nil || s.Wait != DefaultWait || s.Poll != DefaultPoll {
		t.Fatalf("service defaults: %+v, %v", s, err)
	}
	sc, err := NewScheduler(SchedulerConfig{Due: nopDue{}, Log: nopLog{}})
	if err != nil || sc.Interval != DefaultInterval || sc.Now == nil || sc.Logger == nil {
		t.Fatalf("scheduler defaults: %+v, %v", sc, err)
	}
}

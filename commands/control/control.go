// Package control carries out a customer's commands on a campaign that was
// accepted: pause, resume and cancel, and the release of scheduled
// campaigns when their send_at comes.
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
)

const source = "api"

// Appender appends events to their streams durably.
type Appender interface {
	Append(ctx context.Context, msgs ...events.Message) error
}

// Campaigns reads a campaign's status from the read model.
type Campaigns interface {
	// Status is the campaign's status, or the reader's not-found error
	// when it is not the organisation's.
	Status(ctx context.Context, org, id uuid.UUID) (campaign.Status, error)
}

// Defaults of Config.
const (
	DefaultWait = 10 * time.Second
	DefaultPoll = 10 * time.Millisecond
)

// Config configures a Service. New applies the defaults and validates it.
type Config struct {
	// Log is where the commands' events are appended. Required.
	Log Appender
	// Campaigns reads the status a command waits for. Required.
	Campaigns Campaigns
	// Wait bounds how long a command waits for the read model (and so the
	// dispatchers, which read it) to show its effect before answering.
	// Default: DefaultWait.
	Wait time.Duration
	// Poll is how often it looks meanwhile. Default: DefaultPoll.
	Poll time.Duration
}

// Service carries out control commands. Build it with New.
type Service struct {
	Config
}

// New applies cfg's defaults, validates it and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Wait == 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	switch {
	case cfg.Log == nil:
		return nil, errors.New("control: no log to append to")
	case cfg.Campaigns == nil:
		return nil, errors.New("control: no campaign reader")
	case cfg.Wait < 0 || cfg.Poll <= 0:
		return nil, fmt.Errorf("control: wait %s and poll %s must be positive", cfg.Wait, cfg.Poll)
	}
	return &Service{Config: cfg}, nil
}

// Result is what a command did.
type Result struct {
	Status campaign.Status
	// Applied is false when the command had taken effect already (a
	// repeated request).
	Applied bool
}

// ErrNotAcknowledged: the command was recorded but its effect did not show
// within Wait; it will take effect, but the caller cannot rely on it yet.
var ErrNotAcknowledged = errors.New("the command was recorded but has not taken effect yet")

// Do applies c to the campaign: it checks the transition against the
// campaign's status (campaign.Decide), appends the event, and returns once
// the read model shows the new status. A refused command returns its
// campaign.Refusal; one raced by the campaign's own completion the
// Refusal of campaign.ErrFinished.
func (s Service) Do(ctx context.Context, org, id, apiKey uuid.UUID, c campaign.Control) (Result, error) {
	cur, err := s.Campaigns.Status(ctx, org, id)
	if err != nil {
		return Result{}, err
	}
	next, changed, err := campaign.Decide(cur, c)
	if err != nil {
		return Result{Status: cur}, err
	}
	if !changed {
		return Result{Status: cur}, nil
	}
	body := events.ControlV1{APIKeyID: apiKey.String()}
	var p events.Payload
	on := events.OnMessageStream
	switch c {
	case campaign.Pause:
		p = events.CampaignPausedV1{ControlV1: body}
	case campaign.Resume:
		p = events.CampaignResumedV1{ControlV1: body}
	case campaign.Cancel:
		// Through the organisation's stream: its processor drops a
		// campaign still scheduled, or passes the cancellation on to the
		// campaign's message stream once it was processed.
		p = events.CampaignCancelledV1{ControlV1: body}
		on = events.OnOrgStream
	}
	env, err := events.New(uuid.Must(uuid.NewV7()), org, id, p, time.Now(), "", uuid.Nil, source)
	if err != nil {
		return Result{}, err
	}
	if err := s.Log.Append(ctx, on(env)); err != nil {
		return Result{}, fmt.Errorf("append %s: %w", p.EventType(), err)
	}
	return s.await(ctx, org, id, c, next)
}

// await polls the read model until the campaign shows want, the effect of
// c, or finishes otherwise.
func (s Service) await(ctx context.Context, org, id uuid.UUID, c campaign.Control, want campaign.Status) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Wait)
	defer cancel()
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		st, err := s.Campaigns.Status(ctx, org, id)
		switch {
		case err != nil && ctx.Err() == nil:
			return Result{}, err
		case st == want:
			return Result{Status: st, Applied: true}, nil
		case st.Finished():
			// Completed or failed before the command took effect.
			return Result{Status: st}, campaign.Refusal(c, st, campaign.ErrFinished)
		}
		select {
		case <-ctx.Done():
			return Result{Status: st}, ErrNotAcknowledged
		case <-t.C:
		}
	}
}

// Due lists scheduled campaigns whose send_at has come, with their
// organisations.
type Due interface {
	DueScheduled(ctx context.Context, now time.Time, limit int) (map[uuid.UUID]uuid.UUID, error)
}

// DefaultInterval is SchedulerConfig.Interval's default.
const DefaultInterval = 250 * time.Millisecond

// SchedulerConfig configures a Scheduler. NewScheduler applies the
// defaults and validates it.
type SchedulerConfig struct {
	// Due lists the campaigns whose send_at has come. Required.
	Due Due
	// Log is where the releases are appended. Required.
	Log Appender
	// Logger receives warnings. Default: slog.Default().
	Logger *slog.Logger
	// Interval is how often it looks for due campaigns.
	// Default: DefaultInterval.
	Interval time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Scheduler releases scheduled campaigns when their send_at comes. Several
// may run: a campaign released twice is processed once. Build it with
// NewScheduler.
type Scheduler struct {
	SchedulerConfig
}

// NewScheduler applies cfg's defaults, validates it and returns the
// scheduler.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Due == nil:
		return nil, errors.New("scheduler: no due campaigns reader")
	case cfg.Log == nil:
		return nil, errors.New("scheduler: no log to append to")
	case cfg.Interval < 0:
		return nil, fmt.Errorf("scheduler: negative interval %s", cfg.Interval)
	}
	return &Scheduler{SchedulerConfig: cfg}, nil
}

// Run releases due campaigns until ctx ends.
func (s Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if err := s.Release(ctx, s.Now()); err != nil && ctx.Err() == nil {
			s.Logger.Warn("releasing scheduled campaigns", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Release appends a CampaignReleased for every campaign due at now.
func (s Scheduler) Release(ctx context.Context, now time.Time) error {
	due, err := s.Due.DueScheduled(ctx, now, 500)
	if err != nil || len(due) == 0 {
		return err
	}
	recs := make([]events.Message, 0, len(due))
	for id, org := range due {
		env, err := events.New(events.DerivedID(id, events.CampaignReleased, 0), org, id,
			events.CampaignReleasedV1{ReleasedAt: now.UTC()}, now, "", uuid.Nil, "scheduler")
		if err != nil {
			return err
		}
		recs = append(recs, events.OnOrgStream(env))
	}
	return s.Log.Append(ctx, recs...)
}

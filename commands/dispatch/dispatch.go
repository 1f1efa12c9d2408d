// Package dispatch hands queued messages to SMS providers and records each
// outcome as an event.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

const source = "dispatcher"

// Message is what a provider needs to send one SMS. ID is our idempotency
// reference: a provider that sees the same ID twice sends once.
type Message struct {
	ID       uuid.UUID
	To       string
	Sender   string
	Content  string
	Segments int
}

// Receipt is the provider's acknowledgement of a submission.
type Receipt struct{ ProviderRef string }

// Error is a provider refusal. Permanent errors fail the message at once;
// others are retried.
type Error struct {
	Code      string
	Message   string
	Permanent bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Provider is an SMS operator or aggregator.
type Provider interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Retry bounds the attempts for transient failures.
type Retry struct {
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// DefaultRetry retries for about a minute and a half in the worst case.
var DefaultRetry = Retry{MaxAttempts: 6, BaseDelay: 200 * time.Millisecond, MaxDelay: 30 * time.Second}

// Dispatcher is the stateless kafkalog.Stage over one provider's queue.
type Dispatcher struct {
	Provider    Provider
	Name        string
	Retry       Retry
	Concurrency int
	Log         *slog.Logger
}

func (d *Dispatcher) Fold(*kgo.Record)     {}
func (d *Dispatcher) Forget(string, int32) {}
func (d *Dispatcher) retry() Retry {
	if d.Retry.MaxAttempts <= 0 {
		return DefaultRetry
	}
	return d.Retry
}

// Handle sends a batch concurrently and emits the outcomes in queue order.
func (d *Dispatcher) Handle(ctx context.Context, recs []*kgo.Record, emit func(*kgo.Record)) error {
	outs := make([]*kgo.Record, len(recs))
	errs := make([]error, len(recs))
	sem := make(chan struct{}, max(d.Concurrency, 1))
	var wg sync.WaitGroup
	for i, r := range recs {
		dl, err := kafkalog.DecodeDelivery(r)
		if err != nil {
			d.Log.Error("skipping undecodable delivery", "topic", r.Topic, "offset", r.Offset, "err", err)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i], errs[i] = d.deliver(ctx, dl)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, o := range outs {
		if o != nil {
			emit(o)
		}
	}
	return nil
}

func (d *Dispatcher) deliver(ctx context.Context, dl events.Delivery) (*kgo.Record, error) {
	rt := d.retry()
	m := Message{ID: dl.MessageID, To: dl.To, Sender: dl.Sender, Content: dl.Content, Segments: dl.Segments}
	outcome := events.MessageOutcome{
		MessageID: dl.MessageID, Index: dl.Index, Provider: dl.Provider,
		CampaignTotal: dl.CampaignTotal, Cost: dl.Cost, Currency: dl.Currency,
	}
	var payload events.Payload
	for attempt := 1; ; attempt++ {
		outcome.Attempts = attempt
		rc, err := d.Provider.Send(ctx, m)
		if err == nil {
			outcome.ProviderRef = rc.ProviderRef
			payload = events.MessageSentV1{MessageOutcome: outcome}
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var pe *Error
		permanent := errors.As(err, &pe) && pe.Permanent
		if permanent || attempt >= rt.MaxAttempts {
			outcome.ErrorCode, outcome.Error = "PROVIDER_ERROR", err.Error()
			if pe != nil {
				outcome.ErrorCode = pe.Code
			}
			payload = events.MessageFailedV1{MessageOutcome: outcome}
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff(rt, attempt)):
		}
	}
	// The outcome's id derives from the message, so a redelivered message
	// can be recognised downstream.
	env, err := events.New(events.DerivedID(dl.MessageID, payload.EventType(), 0), dl.OrgID, dl.CampaignID,
		payload, time.Now(), dl.TraceID, dl.MessageID, source)
	if err != nil {
		return nil, err
	}
	return kafkalog.Encode(kafkalog.MessageEvents, dl.CampaignID, env), nil
}

// backoff is exponential with full jitter, so retries from many messages
// that failed together do not arrive together.
func backoff(r Retry, attempt int) time.Duration {
	d := r.BaseDelay << (attempt - 1)
	if d > r.MaxDelay || d <= 0 {
		d = r.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

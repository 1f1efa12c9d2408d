package webhooks

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
)

// drainingSubscriber lets the job in hand finish before a worker stops.
//
// The SQL subscriber hands a job to the handler inside the transaction that
// will delete it, and the handler records its attempt in that transaction.
// Closed while a job is in hand, the subscriber would end the transaction
// under the handler: the attempt's HTTP request may have gone out while
// its record is lost, and the job would run again after a restart. This
// wrapper gives the inner subscriber a context the router cannot cancel,
// stops taking jobs when asked to close, waits until the one in hand is
// acked or nacked, and only then closes the inner subscriber. The SQL
// subscriber has one job in hand at a time, so there is at most one to
// wait for.
type drainingSubscriber struct {
	inner message.Subscriber

	subscribed atomic.Bool
	once       sync.Once
	stop       chan struct{}
	done       chan struct{}
}

func newDrainingSubscriber(inner message.Subscriber) *drainingSubscriber {
	return &drainingSubscriber{inner: inner, stop: make(chan struct{}), done: make(chan struct{})}
}

func (d *drainingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := d.inner.Subscribe(context.WithoutCancel(ctx), topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	d.subscribed.Store(true)
	go func() {
		defer close(d.done)
		defer close(out)
		defer d.inner.Close() //nolint:errcheck
		for {
			var m *message.Message
			select {
			case <-ctx.Done():
				return
			case <-d.stop:
				return
			case m = <-in:
				if m == nil {
					return
				}
			}
			select {
			case out <- m:
			case <-ctx.Done():
				// Not handed over: the inner subscriber gives it back
				// when closed.
				return
			case <-d.stop:
				return
			}
			select {
			case <-m.Acked():
			case <-m.Nacked():
			}
		}
	}()
	return out, nil
}

// Close stops taking jobs and returns once the job in hand is settled and
// the inner subscriber closed.
func (d *drainingSubscriber) Close() error {
	d.once.Do(func() { close(d.stop) })
	if !d.subscribed.Load() {
		return d.inner.Close()
	}
	<-d.done
	return nil
}

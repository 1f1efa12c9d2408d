package service_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/commands/complete"
	"ziett.co/campaigns/domain/events"
)

// failingOnce is a completion monitor whose next Handle that produces
// something fails after producing it, so its transaction aborts with the
// state it built.
type failingOnce struct {
	*complete.Monitor
	armed atomic.Bool
	fails atomic.Int32
}

var errOnce = errors.New("injected failure after producing")

func (f *failingOnce) Handle(ctx context.Context, in []events.Message) ([]events.Message, error) {
	out, err := f.Monitor.Handle(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(out) > 0 && f.armed.CompareAndSwap(true, false) {
		f.fails.Add(1)
		return nil, errOnce
	}
	return out, nil
}

// A stage whose transaction aborts after it emitted must not carry on with
// the state of the aborted attempt: the completion monitor had already
// counted the campaign's last outcomes and closed it, so carrying on would
// never complete it again. The loop forgets and rebuilds the state, and the
// campaign completes once.
func TestAbortedTransactionForgetsItsState(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API, service.Processor, service.Dispatcher, service.Projector))
	mon := &failingOnce{Monitor: complete.NewMonitor(complete.Config{Log: e.Cfg.Log})}
	mon.armed.Store(true)
	loop := e.Loop(service.CompletionLoop(e.Cfg, mon))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := loop.Run(ctx); err != nil {
			t.Errorf("completion loop: %v", err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	id := e.Submit(e.SeedRequest())
	// A deadline, not a measure: under a loaded test run the rebuild after
	// the abort and the dispatchers' group joins can take a while.
	c := e.WaitStatus(id, 90*time.Second, "COMPLETED")
	if mon.fails.Load() != 1 {
		t.Fatalf("the injected failure ran %d times, want 1", mon.fails.Load())
	}
	if m := c["messages"].(map[string]any); m["sent"] != 3.0 {
		t.Fatalf("messages = %v, want 3 sent", m)
	}
	completed := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool {
		return ev.CampaignID == id && ev.Type == events.CampaignCompleted
	})
	if len(completed) != 1 {
		t.Fatalf("%d CampaignCompleted committed, want 1", len(completed))
	}
}

package service_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/commands/dispatch"
	"ziett.co/campaigns/domain/plan"
)

// countingProvider counts the calls one dispatcher instance makes.
type countingProvider struct {
	*smsprovider.Simulated
	calls atomic.Int32
}

func (c *countingProvider) Send(ctx context.Context, m dispatch.Message) (dispatch.Receipt, error) {
	c.calls.Add(1)
	return c.Simulated.Send(ctx, m)
}

func (c *countingProvider) Lookup(ctx context.Context, id uuid.UUID) (dispatch.Status, error) {
	return c.Simulated.Lookup(ctx, id)
}

// shareProbe records how many partitions a dispatcher instance owns.
type shareProbe struct {
	*dispatch.Dispatcher
	owned atomic.Int32
}

func (p *shareProbe) Share(owned, total int) {
	p.owned.Store(int32(owned))
	p.Dispatcher.Share(owned, total)
}

// Two dispatcher instances of one provider, each taking the share of the
// provider's limit that its share of the queue's partitions is, never
// exceed the limit together.
func TestThroughputLimitHoldsAcrossDispatchers(t *testing.T) {
	const limit = 50
	rules := plan.DefaultRules()
	rules.Throughput = map[string]float64{"unitel": limit}
	e := servicetest.Start(t, servicetest.WithComponents(service.API, service.Processor, service.Completion, service.Projector),
		func(c *service.Config) { c.Rules = &rules })
	sim := smsprovider.NewSimulated(smsprovider.Config{Name: "unitel", RecordTimes: true})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var instances []*countingProvider
	var probes []*shareProbe
	for _, id := range []string{"a", "b"} {
		prov := &countingProvider{Simulated: sim}
		instances = append(instances, prov)
		cfg := e.Cfg
		cfg.InstanceID = id
		d, err := service.NewDispatcher(cfg, rules, e.Stack.DB, "unitel", prov)
		if err != nil {
			t.Fatal(err)
		}
		probe := &shareProbe{Dispatcher: d}
		probes = append(probes, probe)
		loop := e.Loop(service.DispatcherLoop(cfg, "unitel", probe))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loop.Run(ctx); err != nil && !errors.Is(err, kafkalog.ErrKilled) {
				t.Errorf("dispatcher %s: %v", id, err)
			}
		}()
	}

	// Start once the group has settled on two partitions each.
	deadline := time.Now().Add(15 * time.Second)
	for probes[0].owned.Load() != 2 || probes[1].owned.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions owned: %d and %d, want 2 and 2", probes[0].owned.Load(), probes[1].owned.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}

	req := e.SeedRequest()
	var rs []string
	for i := range 90 {
		rs = append(rs, fmt.Sprintf("+24492%07d", i))
	}
	req["recipients"] = rs
	began := time.Now()
	id := e.Submit(req)
	c := e.WaitStatus(id, 20*time.Second, "COMPLETED", "FAILED")
	took := time.Since(began)
	if c["status"] != "COMPLETED" || sim.Accepted() != 90 {
		t.Fatalf("campaign %v with %d accepted", c["status"], sim.Accepted())
	}
	// A token bucket lets through at most rate × window + burst; each
	// instance's burst is a tenth of its share (at least 1).
	worst := smsprovider.MaxInWindow(sim.CallTimes(), time.Second)
	if worst > limit+2*max(1, limit/2/10) {
		t.Fatalf("%d provider calls within one second, limit %d/s", worst, limit)
	}
	for i, p := range instances {
		if p.calls.Load() == 0 {
			t.Errorf("instance %d made no call: the queue's partitions were not shared", i)
		}
	}
	t.Logf("90 messages in %s, at most %d in any second, split %d/%d", took.Round(time.Millisecond), worst,
		instances[0].calls.Load(), instances[1].calls.Load())
}

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

// Two dispatcher instances of one provider, each with its campaign loop
// and its priority loop sharing one budget: single messages sent while a
// campaign backlog drains at the provider's limit overtake the backlog
// (campaign messages pass only while the single message travels from the
// API to its priority loop), and the two instances together keep the
// limit.
func TestSingleMessagesOvertakeABacklogAcrossDispatchers(t *testing.T) {
	const limit = 100
	rules := plan.DefaultRules()
	rules.Throughput = map[string]float64{"unitel": limit}
	e := servicetest.Start(t, servicetest.WithComponents(service.API, service.Processor, service.Completion, service.Projector),
		func(c *service.Config) { c.Rules = &rules })
	// The provider numbers acceptances in order: how many campaign
	// messages it took between a single message's 202 and its own.
	var seq atomic.Int64
	var order sync.Map // message id → acceptance number
	sim := smsprovider.NewSimulated(smsprovider.Config{Name: "unitel", RecordTimes: true,
		OnAccept: func(id uuid.UUID) { order.Store(id, seq.Add(1)) }})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var budgets []*dispatch.Budget
	for _, id := range []string{"a", "b"} {
		cfg := e.Cfg
		cfg.InstanceID = id
		budget := dispatch.NewBudget(limit)
		budgets = append(budgets, budget)
		bulk, prio, err := service.NewDispatchers(cfg, e.Stack.DB, "unitel", sim, budget, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { budget.Run(ctx) })
		for _, loop := range []*kafkalog.TxLoop{e.Loop(service.DispatcherLoop(cfg, "unitel", bulk)), e.Loop(service.PriorityDispatcherLoop(cfg, "unitel", prio))} {
			wg.Go(func() {
				if err := loop.Run(ctx); err != nil && !errors.Is(err, kafkalog.ErrKilled) {
					t.Errorf("dispatcher %s: %v", id, err)
				}
			})
		}
	}
	// Both instances own a share of both queues before the work starts.
	deadline := time.Now().Add(20 * time.Second)
	for budgets[0].Rate() == 0 || budgets[1].Rate() == 0 || budgets[0].Rate()+budgets[1].Rate() < limit*0.9 {
		if time.Now().After(deadline) {
			t.Fatalf("budgets %v and %v after 20 s", budgets[0].Rate(), budgets[1].Rate())
		}
		time.Sleep(10 * time.Millisecond)
	}

	const backlog = 800
	req := e.SeedRequest()
	var rs []string
	for i := range backlog {
		rs = append(rs, fmt.Sprintf("+24492%07d", i))
	}
	req["recipients"] = rs
	campaign := e.Submit(req)
	// Wait until the backlog is draining.
	for seq.Load() < 50 {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("the campaign's messages did not start: %d accepted", seq.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 5 {
		id := e.SubmitMessage(map[string]any{"recipient": fmt.Sprintf("+2449239%05d", i)})
		before := seq.Load()
		var at int64
		for {
			if v, ok := order.Load(id); ok {
				at = v.(int64)
				break
			}
			if ctx.Err() != nil || time.Now().After(deadline.Add(time.Minute)) {
				t.Fatalf("single message %d was never sent", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		// Without priority the single message would queue behind the
		// campaign calls waiting for a token (64 per instance, over a
		// second's worth at the limit); with it, only what the path from
		// the 202 to the priority loop takes lets campaign messages
		// through.
		passed := at - before
		t.Logf("single message %d: %d campaign messages sent between its 202 and its acknowledgement", i, passed)
		if passed > limit/2 {
			t.Errorf("single message %d: %d campaign messages were sent between its 202 and its acknowledgement", i, passed)
		}
	}
	if n := seq.Load(); n >= backlog {
		t.Fatalf("the backlog was gone (%d accepted) before the last single message was sent", n)
	}
	e.WaitStatus(campaign, time.Minute, "COMPLETED")
	if worst := smsprovider.MaxInWindow(sim.CallTimes(), time.Second); worst > limit {
		t.Fatalf("%d provider calls within one second, limit %d/s", worst, limit)
	}
}

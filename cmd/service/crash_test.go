package service_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/commands/complete"
	"ziett.co/campaigns/commands/dispatch"
	"ziett.co/campaigns/commands/process"
	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
)

// incarnation is one run of a loop, from start to crash: what a process
// is between two restarts.
type incarnation struct {
	loop  *kafkalog.TxLoop
	dead  atomic.Bool
	kills *atomic.Int32
	// pending asks for a crash right before the open transaction commits.
	pending atomic.Bool
}

// crash kills the incarnation like a power cut: mid-transaction if one is
// open, with nothing cleaned up.
func (i *incarnation) crash() {
	if i.dead.CompareAndSwap(false, true) {
		i.kills.Add(1)
		i.loop.Kill()
	}
}

// crashBeforeCommit crashes the incarnation once the outputs of the
// transaction under way are produced, before it commits.
func (i *incarnation) crashBeforeCommit() { i.pending.Store(true) }

// supervisor restarts a loop every time it crashes, with fresh state (a new
// process) and the same instance id, as an orchestrator would.
type supervisor struct {
	name  string
	make  func(*incarnation) (kafkalog.TxLoopConfig, error)
	kills atomic.Int32

	mu  sync.Mutex
	cur *incarnation
}

func (s *supervisor) run(ctx context.Context, t *testing.T, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			inc := &incarnation{kills: &s.kills}
			c, err := s.make(inc)
			if err != nil {
				t.Errorf("%s: %v", s.name, err)
				return
			}
			c.BeforeCommit = func() {
				if inc.pending.Load() {
					inc.crash()
				}
			}
			loop, err := kafkalog.NewTxLoop(c)
			if err != nil {
				t.Errorf("%s: %v", s.name, err)
				return
			}
			inc.loop = loop
			s.mu.Lock()
			s.cur = inc
			s.mu.Unlock()
			err = inc.loop.Run(ctx)
			if errors.Is(err, kafkalog.ErrKilled) {
				continue
			}
			if err != nil {
				t.Errorf("%s stopped: %v", s.name, err)
			}
			return
		}
	}()
}

func (s *supervisor) crash() {
	s.mu.Lock()
	inc := s.cur
	s.mu.Unlock()
	if inc != nil {
		inc.crash()
	}
}

// crashPlan says where the next crashes happen. Counters are shared by every
// incarnation, so a crash point is hit once, not once per restart.
type crashPlan struct {
	processorKills  atomic.Int32 // crash after the next n handles that produced
	readBackKills   atomic.Int32 // crash before handling the next n batches holding a debit
	completionKills atomic.Int32
	mu              sync.Mutex
	calls, accepts  int
	beforeCall      map[int]bool // crash instead of making the n-th provider call
	afterAccept     map[int]bool // crash right after the provider accepted the n-th message
}

// crashingProcessor may crash its incarnation after a Handle that produced
// something, while the transaction is still open with its outputs
// produced, or before handling a debit it wrote itself.
type crashingProcessor struct {
	*process.Processor
	inc      *incarnation
	kills    *atomic.Int32
	readBack *atomic.Int32
}

func (c *crashingProcessor) Handle(ctx context.Context, in []events.Message) ([]events.Message, error) {
	// A debit committed but not yet read back is pending in the state a
	// snapshot of that commit holds: crashing here makes the restart
	// depend on it.
	for _, m := range in {
		if m.Event.Type == events.FundsDebited && c.readBack.Add(-1) >= 0 {
			c.inc.crash()
			return nil, nil
		}
	}
	out, err := c.Processor.Handle(ctx, in)
	if err == nil && len(out) > 0 && c.kills.Add(-1) >= 0 {
		c.inc.crashBeforeCommit()
	}
	return out, err
}

type crashingMonitor struct {
	*complete.Monitor
	inc   *incarnation
	kills *atomic.Int32
}

func (c *crashingMonitor) Handle(ctx context.Context, in []events.Message) ([]events.Message, error) {
	out, err := c.Monitor.Handle(ctx, in)
	if err == nil && len(out) > 0 && c.kills.Add(-1) >= 0 {
		c.inc.crashBeforeCommit()
	}
	return out, err
}

var errDead = errors.New("process is dead")

// crashingProvider sits between a dispatcher incarnation and the simulated
// provider, which outlives every incarnation (it is the operator). A dead
// incarnation reaches nothing, as a dead process would not.
type crashingProvider struct {
	sim  *smsprovider.Simulated
	inc  *incarnation
	plan *crashPlan
}

func (p *crashingProvider) Send(ctx context.Context, m dispatch.Message) (dispatch.Receipt, error) {
	if p.inc.dead.Load() {
		return dispatch.Receipt{}, errDead
	}
	p.plan.mu.Lock()
	p.plan.calls++
	before := p.plan.beforeCall[p.plan.calls]
	p.plan.mu.Unlock()
	if before {
		p.inc.crash() // the intent is recorded; the call never leaves
		return dispatch.Receipt{}, errDead
	}
	rc, err := p.sim.Send(ctx, m)
	if err == nil {
		p.plan.mu.Lock()
		p.plan.accepts++
		after := p.plan.afterAccept[p.plan.accepts]
		p.plan.mu.Unlock()
		if after {
			p.inc.crash() // the provider has it; the outcome never commits
			return dispatch.Receipt{}, errDead
		}
	}
	return rc, err
}

func (p *crashingProvider) Lookup(ctx context.Context, id uuid.UUID) (dispatch.Status, error) {
	if p.inc.dead.Load() {
		return dispatch.Status{}, errDead
	}
	return p.sim.Lookup(ctx, id)
}

// campaignRequest has n valid numbers spread over every route of the shipped
// table (four Angolan operators' ranges, Portugal, elsewhere).
func campaignRequest(e *servicetest.Env, seed, n int) map[string]any {
	req := e.SeedRequest()
	// An invalid number first, so recipient indexes and message counts
	// differ as they do in real campaigns.
	rs := []string{"+244 123 456 789"}
	for i := range n {
		switch i % 6 {
		case 4:
			rs = append(rs, fmt.Sprintf("+3519123%02d%03d", seed, i))
		case 5:
			rs = append(rs, fmt.Sprintf("+1415555%02d%02d", seed%100, i%100))
		default:
			op := []int{1, 2, 5, 9}[i%4]
			rs = append(rs, fmt.Sprintf("9%d%02d%05d", op, seed, i))
		}
	}
	req["recipients"] = rs
	req["name"] = fmt.Sprintf("crash test %d", seed)
	return req
}

// The processor, the dispatchers and the completion monitor crash at
// several points of several campaigns (mid-transaction after producing,
// between the intent and the provider call, after the provider accepted
// and before the outcome committed, and while idle), and are restarted.
// Every campaign still ends, every valid recipient is handed to a provider
// exactly once, every campaign is debited exactly once, and the balance is
// exactly credits − debits + refunds with refunds paying back every failed
// message.
func TestCrashesLoseAndDuplicateNothing(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API, service.Projector), func(c *service.Config) {
		c.InstanceID = "crash-test"
		c.Snapshots = kafkalog.SnapshotPolicy{Every: 1}
		c.Retry = dispatch.Retry{MaxAttempts: 6, BaseDelay: 2 * time.Millisecond, MaxDelay: 20 * time.Millisecond}
	})
	rules := e.Stack.Rules
	sims := map[string]*smsprovider.Simulated{}
	for _, name := range rules.Routes.Providers() {
		sims[name] = smsprovider.NewSimulated(smsprovider.Config{Name: name, Latency: time.Millisecond,
			TransientFailure: 0.2, PermanentFailure: 0.1})
	}
	p := &crashPlan{beforeCall: map[int]bool{3: true}, afterAccept: map[int]bool{5: true, 14: true}}
	p.processorKills.Store(2)
	p.readBackKills.Store(1)
	p.completionKills.Store(1)

	processor := &supervisor{name: "processor", make: func(inc *incarnation) (kafkalog.TxLoopConfig, error) {
		return service.ProcessorLoop(e.Cfg, &crashingProcessor{Processor: process.NewProcessor(process.Config{Rules: rules, Log: e.Cfg.Log}), inc: inc, kills: &p.processorKills, readBack: &p.readBackKills}), nil
	}}
	completion := &supervisor{name: "completion", make: func(inc *incarnation) (kafkalog.TxLoopConfig, error) {
		return service.CompletionLoop(e.Cfg, &crashingMonitor{Monitor: complete.NewMonitor(complete.Config{Log: e.Cfg.Log}), inc: inc, kills: &p.completionKills}), nil
	}}
	all := []*supervisor{processor, completion}
	for name, sim := range sims {
		all = append(all, &supervisor{name: "dispatcher " + name, make: func(inc *incarnation) (kafkalog.TxLoopConfig, error) {
			prov := &crashingProvider{sim: sim, inc: inc, plan: p}
			d, err := service.NewDispatcher(e.Cfg, rules, e.Stack.DB, name, prov)
			return service.DispatcherLoop(e.Cfg, name, d), err
		}})
		all = append(all, &supervisor{name: "priority dispatcher " + name, make: func(inc *incarnation) (kafkalog.TxLoopConfig, error) {
			prov := &crashingProvider{sim: sim, inc: inc, plan: p}
			c := service.DispatcherConfig(e.Cfg, rules, e.Stack.DB, name, prov)
			c.Priority = true
			d, err := dispatch.New(c)
			return service.PriorityDispatcherLoop(e.Cfg, name, d), err
		}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range all {
		s.run(ctx, t, &wg)
	}
	defer func() { cancel(); wg.Wait() }()

	var ids, singles []uuid.UUID
	wave := func(seeds ...int) {
		var batch, msgs []uuid.UUID
		for _, s := range seeds {
			batch = append(batch, e.Submit(campaignRequest(e, s, 12)))
			// Single messages travel the same stages, on the priority
			// queues, through the same crashes.
			for i, rcpt := range []string{"+24492%02d00001", "+24491%02d00002", "+35191%02d00003"} {
				msgs = append(msgs, e.SubmitMessage(map[string]any{
					"recipient": fmt.Sprintf(rcpt, s), "content": fmt.Sprintf("code %d-%d", s, i),
				}))
			}
		}
		for _, id := range batch {
			e.WaitStatus(id, 30*time.Second, "COMPLETED", "FAILED")
		}
		for _, id := range msgs {
			e.WaitMessage(id, 30*time.Second, "SENT", "FAILED")
		}
		ids = append(ids, batch...)
		singles = append(singles, msgs...)
	}
	wave(1, 2, 3)

	// Crash everything while idle, then crash again inside the next wave.
	for _, s := range all {
		s.crash()
	}
	p.processorKills.Store(1)
	p.readBackKills.Store(1)
	p.completionKills.Store(1)
	p.mu.Lock()
	p.afterAccept[p.accepts+2] = true
	p.beforeCall[p.calls+6] = true
	p.mu.Unlock()
	bad := e.SeedRequest()
	bad["recipients"] = []string{"+244 123 456 789", "+999 123 4567"} // unassigned range, no such country
	noValid := e.Submit(bad)
	wave(4, 5, 6)
	if c := e.WaitStatus(noValid, 10*time.Second, "FAILED"); c["failure"].(map[string]any)["code"] != campaign.CodeNoValidRecipients {
		t.Errorf("campaign without valid recipients failed with %v", c["failure"])
	}

	if n := processor.kills.Load(); n < 6 {
		t.Errorf("processor crashed %d times, want at least 6 (the crash points were not reached)", n)
	}
	if n := completion.kills.Load(); n < 3 {
		t.Errorf("completion monitor crashed %d times, want at least 3", n)
	}
	var dk int32
	for _, s := range all[2:] {
		dk += s.kills.Load()
	}
	if want := int32(2*len(sims) + 5); dk < want {
		t.Errorf("dispatchers crashed %d times, want at least %d", dk, want)
	}

	t.Logf("crashes: processor %d, completion %d, dispatchers %d", processor.kills.Load(), completion.kills.Load(), dk)
	checkLedger(t, e, ids, singles, noValid, sims)
}

// checkLedger reads the log back and checks the exactly-once properties.
func checkLedger(t *testing.T, e *servicetest.Env, ids, singles []uuid.UUID, noValid uuid.UUID, sims map[string]*smsprovider.Simulated) {
	t.Helper()
	org := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool { return ev.OrgID == e.Demo.OrgID })
	outcomes := map[uuid.UUID][]events.Envelope{}
	for _, ev := range e.Events(kafkalog.MessageEvents, nil) {
		var o events.MessageOutcome
		if err := ev.Decode(&o); err != nil {
			t.Fatal(err)
		}
		outcomes[o.MessageID] = append(outcomes[o.MessageID], ev)
	}
	count := map[uuid.UUID]map[events.Type]int{}
	processed := map[uuid.UUID]events.CampaignProcessedV1{}
	var balance int64
	for _, ev := range org {
		if count[ev.CampaignID] == nil {
			count[ev.CampaignID] = map[events.Type]int{}
		}
		count[ev.CampaignID][ev.Type]++
		switch ev.Type {
		case events.FundsCredited:
			var f events.FundsCreditedV1
			decode(t, ev, &f)
			balance += f.Amount
		case events.FundsRefunded:
			var f events.FundsRefundedV1
			decode(t, ev, &f)
			balance += f.Amount
		case events.FundsDebited:
			var f events.FundsDebitedV1
			decode(t, ev, &f)
			balance -= f.Amount
			// The balance the processor checked is the log's, at that
			// point, across every crash and snapshot restore.
			if f.BalanceAfter != balance {
				t.Errorf("campaign %s: debit says balance %d after it, the log says %d", ev.CampaignID, f.BalanceAfter, balance)
			}
		case events.CampaignProcessed:
			var c events.CampaignProcessedV1
			decode(t, ev, &c)
			processed[ev.CampaignID] = c
		}
	}
	calls := map[string]map[uuid.UUID]int{} // per provider, per message
	for name, sim := range sims {
		calls[name] = sim.AcceptedCalls()
	}
	var spent int64
	for _, id := range append(slices.Clone(ids), singles...) {
		single := slices.Contains(singles, id)
		c := count[id]
		if c[events.CampaignProcessed] != 1 || c[events.FundsDebited] != 1 || c[events.MessagesEnqueued] != 1 ||
			c[events.CampaignCompleted] != 1 || c[events.CampaignFailed] != 0 || c[events.FundsRefunded] > 1 {
			t.Errorf("campaign %s has events %v, want each once", id, c)
		}
		var failedCost int64
		failed := 0
		for _, it := range processed[id].Items {
			if it.MessageID == uuid.Nil {
				continue
			}
			outs := outcomes[it.MessageID]
			if len(outs) != 1 {
				t.Errorf("message %s has %d outcomes, want 1", it.MessageID, len(outs))
				continue
			}
			handed := calls[it.Provider][it.MessageID]
			switch outs[0].Type {
			case events.MessageSent:
				spent += it.Cost
				if handed != 1 {
					t.Errorf("message %s (%s) was accepted by %s %d times, want exactly 1", it.MessageID, it.E164, it.Provider, handed)
				}
			default:
				failed++
				failedCost += it.Cost
				if handed != 0 {
					t.Errorf("failed message %s was accepted by its provider %d times", it.MessageID, handed)
				}
			}
		}
		if failed > 0 && c[events.FundsRefunded] != 1 {
			t.Errorf("campaign %s: %d failed messages worth %d, but %d refunds", id, failed, failedCost, c[events.FundsRefunded])
		}
		if single {
			// Retrieve Message tells the customer the same story.
			got := e.WaitMessage(id, 5*time.Second, "SENT", "FAILED")
			cost := got["cost"].(map[string]any)
			if wantFailed := failed == 1; (got["status"] == "FAILED") != wantFailed ||
				cost["amount"] != float64(processed[id].Cost) || cost["refunded"] != float64(failedCost) {
				t.Errorf("message %s shows status %v and cost %v; the log says debited %d, refunded %d",
					id, got["status"], cost, processed[id].Cost, failedCost)
			}
			continue
		}
		// Retrieve Campaign tells the customer the same story.
		got := e.WaitStatus(id, 5*time.Second, "COMPLETED")
		cost, msgs := got["cost"].(map[string]any), got["messages"].(map[string]any)
		if cost["debited"] != float64(processed[id].Cost) || cost["refunded"] != float64(failedCost) || msgs["failed"] != float64(failed) {
			t.Errorf("campaign %s shows cost %v and messages %v; the log says debited %d, refunded %d, %d failed",
				id, cost, msgs, processed[id].Cost, failedCost, failed)
		}
	}
	if c := count[noValid]; c[events.CampaignFailed] != 1 || c[events.FundsDebited] != 0 || c[events.MessagesEnqueued] != 0 {
		t.Errorf("campaign without valid recipients has events %v", c)
	}
	if want := servicetest.Credits - spent; balance != want {
		t.Errorf("balance folded from the log = %d, want credits − cost of sent messages = %d", balance, want)
	}
	// Nothing was accepted that no outcome accounts for.
	sent := 0
	for _, outs := range outcomes {
		if outs[0].Type == events.MessageSent {
			sent++
		}
	}
	accepted := 0
	for _, sim := range sims {
		accepted += sim.Accepted()
	}
	t.Logf("%d messages: %d sent, %d failed; refunds and debits balance to %d", len(outcomes), sent, len(outcomes)-sent, balance)
	if accepted != sent {
		t.Errorf("providers accepted %d messages, the log records %d sent", accepted, sent)
	}
	snapshots := 0
	for part := range e.Cfg.Partitions {
		s, err := kafkalog.LatestSnapshot(t.Context(), e.Brokers, kafkalog.ProcessorSnapshots, kafkalog.OrgEvents, part)
		if err != nil {
			t.Fatal(err)
		}
		if s != nil {
			snapshots++
		}
	}
	if snapshots == 0 {
		t.Error("the processor wrote no snapshot: restarts did not exercise snapshot plus tail")
	}
}

// decode reads an event's payload; a payload that does not decode is a
// corrupt log, which is what these checks are for.
func decode(t *testing.T, ev events.Envelope, p any) {
	t.Helper()
	if err := ev.Decode(p); err != nil {
		t.Fatalf("event %s (%s): %v", ev.ID, ev.Type, err)
	}
}

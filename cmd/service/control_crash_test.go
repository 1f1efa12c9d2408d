package service_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/commands/complete"
	"ziett.co/campaigns/commands/control"
	"ziett.co/campaigns/commands/process"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/campaigns"
)

// Every stage crashes while a campaign is paused (its held messages live
// only in the completion monitor's folded state), again after its cancel,
// and while another campaign is scheduled: nothing is lost, nothing is
// handed to a provider twice, and each refund is exactly the unsent
// messages' cost.
func TestControlSurvivesCrashes(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API, service.Projector), slowUnitel, func(c *service.Config) {
		c.InstanceID = "control-crash"
		c.Snapshots = kafkalog.SnapshotPolicy{Every: 5}
	})
	rules := e.Stack.Rules
	sims := map[string]*smsprovider.Simulated{}
	var all []*supervisor
	all = append(all, &supervisor{name: "processor", make: func(*incarnation) (kafkalog.TxLoopConfig, error) {
		return service.ProcessorLoop(e.Cfg, process.NewProcessor(process.Config{Rules: rules, Log: e.Cfg.Log})), nil
	}}, &supervisor{name: "completion", make: func(*incarnation) (kafkalog.TxLoopConfig, error) {
		return service.CompletionLoop(e.Cfg, complete.NewMonitor(complete.Config{Log: e.Cfg.Log})), nil
	}})
	for _, name := range rules.Routes.Providers() {
		sim := smsprovider.NewSimulated(smsprovider.Config{Name: name, RatePerSecond: rules.Throughput[name]})
		sims[name] = sim
		all = append(all, &supervisor{name: "dispatcher " + name, make: func(*incarnation) (kafkalog.TxLoopConfig, error) {
			d, err := service.NewDispatcher(e.Cfg, rules, e.Stack.DB, name, sim)
			return service.DispatcherLoop(e.Cfg, name, d), err
		}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range all {
		s.run(ctx, t, &wg)
	}
	defer func() { cancel(); wg.Wait() }()
	// The scheduler runs beside the processor in a deployment.
	sched, err := control.NewScheduler(control.SchedulerConfig{Due: campaigns.Reader{DB: e.Stack.DB},
		Log: kafkalog.NewAppender(e.Stack.Kafka), Logger: e.Cfg.Log})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sched.Run(ctx) //nolint:errcheck
	}()
	crashAll := func() {
		for _, s := range all {
			s.crash()
		}
	}
	unitel := sims["unitel"]
	post := func(id uuid.UUID, c string) {
		t.Helper()
		if r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/"+c, e.Demo.APIKey, nil); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", c, r.Status, r.Body)
		}
	}
	waitUnitel := func(id uuid.UUID, atLeast int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for sentTo(unitel, id, controlRecipients) < atLeast {
			if time.Now().After(deadline) {
				t.Fatalf("campaign %s: fewer than %d sent", id, atLeast)
			}
			time.Sleep(20 * time.Millisecond)
		}
		e.WaitStatus(id, 10*time.Second, "SENDING")
	}

	// Paused, everything crashes, resumed, everything crashes again.
	paused := e.Submit(unitelRequest(e, "paused through crashes", controlRecipients))
	waitUnitel(paused, 50)
	post(paused, "pause")
	time.Sleep(500 * time.Millisecond) // let the dispatchers hold some
	crashAll()
	post(paused, "resume")
	crashAll()
	e.WaitStatus(paused, 60*time.Second, "COMPLETED")

	// Paused, crashed, cancelled, crashed.
	cancelled := e.Submit(unitelRequest(e, "cancelled through crashes", controlRecipients))
	waitUnitel(cancelled, 50)
	post(cancelled, "pause")
	time.Sleep(300 * time.Millisecond)
	crashAll()
	post(cancelled, "cancel")
	crashAll()

	// Scheduled while the processor crashes.
	req := e.SeedRequest()
	sendAt := time.Now().Add(3 * time.Second)
	req["send_at"] = sendAt.UTC().Format(time.RFC3339Nano)
	scheduled := e.Submit(req)
	e.WaitStatus(scheduled, 10*time.Second, "SCHEDULED")
	crashAll()
	if v := e.WaitStatus(scheduled, 30*time.Second, "COMPLETED"); messagesOf(v)["sent"] != 3 {
		t.Fatalf("scheduled campaign after a crash: %v", v)
	}

	// The cancelled campaign settles: every message has one outcome.
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := e.WaitStatus(cancelled, 5*time.Second, "CANCELLED")
		if messagesOf(v)["queued"] == 0 && v["cost"].(map[string]any)["refunded"].(float64) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancelled campaign not settled: %v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}

	outcomes := map[uuid.UUID]map[int][]events.Type{}
	cancelledCost := map[uuid.UUID]int64{}
	for _, ev := range e.Events(kafkalog.MessageEvents, nil) {
		switch ev.Type {
		case events.MessageSent, events.MessageFailed, events.MessageCancelled:
		default:
			continue
		}
		var o events.MessageOutcome
		if err := ev.Decode(&o); err != nil {
			t.Fatal(err)
		}
		if outcomes[ev.CampaignID] == nil {
			outcomes[ev.CampaignID] = map[int][]events.Type{}
		}
		outcomes[ev.CampaignID][o.Index] = append(outcomes[ev.CampaignID][o.Index], ev.Type)
		if ev.Type == events.MessageCancelled {
			cancelledCost[ev.CampaignID] += o.Cost
		}
	}
	calls := unitel.AcceptedCalls()
	for _, id := range []uuid.UUID{paused, cancelled} {
		if n := len(outcomes[id]); n != controlRecipients {
			t.Errorf("campaign %s: %d messages have an outcome, want %d", id, n, controlRecipients)
		}
		for i := range controlRecipients {
			outs := outcomes[id][i]
			handed := calls[events.MessageID(id, i)]
			if len(outs) != 1 {
				t.Errorf("campaign %s message %d: outcomes %v, want one", id, i, outs)
				continue
			}
			if (outs[0] == events.MessageSent) != (handed == 1) || handed > 1 {
				t.Errorf("campaign %s message %d: outcome %s, handed to the provider %d times", id, i, outs[0], handed)
			}
		}
	}
	if cancelledCost[paused] != 0 {
		t.Errorf("the resumed campaign had cancelled messages worth %d", cancelledCost[paused])
	}
	refunds := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool {
		return ev.CampaignID == cancelled && ev.Type == events.FundsRefunded
	})
	var f events.FundsRefundedV1
	if len(refunds) != 1 || refunds[0].Decode(&f) != nil || f.Amount != cancelledCost[cancelled] || f.Amount == 0 {
		t.Fatalf("refunds of the cancelled campaign: %d, amount %d, want one of %d", len(refunds), f.Amount, cancelledCost[cancelled])
	}
	var kills int32
	for _, s := range all {
		kills += s.kills.Load()
	}
	t.Logf("%d crashes", kills)
}

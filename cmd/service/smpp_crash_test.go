package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/events"
)

// crashChildEnv makes the test binary a pipeline process (everything but
// the API) of the crash test instead of running tests: the parent kills it
// with SIGKILL and starts it again.
const crashChildEnv = "ZIETT_TEST_CRASH_CHILD"

// crashChild runs the pipeline against the parent's broker, database and
// SMSC until it is killed.
func crashChild() {
	var opts []servicetest.Option
	opts = append(opts, servicetest.LinkSMPP(os.Getenv("ZIETT_TEST_SMSC"), 2, 16))
	cfg := service.Config{Brokers: strings.Split(os.Getenv("KAFKA_BROKERS"), ","), DatabaseURL: os.Getenv("DATABASE_URL"),
		HTTPAddr: "127.0.0.1:0", Partitions: 4, InstanceID: "crash",
		Components: []string{service.Processor, service.Dispatcher, service.Completion, service.Projector},
		Log:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// The projector's members are not static: a killed process's
		// members hold their partitions until their session times out.
		ClientOpts: []kgo.Opt{kgo.SessionTimeout(6 * time.Second)}}
	for _, o := range opts {
		o(&cfg)
	}
	st, err := service.Start(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	<-st.Done()
	fmt.Fprintln(os.Stderr, "crash child stopped:", st.Err())
	os.Exit(1)
}

// A pipeline process is killed (SIGKILL) twice while messages are being
// submitted over SMPP and receipts flow back, and started again with the
// same instance id. Afterwards every message has exactly one outcome and
// exactly one receipt event (none lost, none applied twice), the read
// model's counts are exact, and the SMSC received a message twice only
// within the documented window: at most the submissions that can be
// outstanding at a kill (each dispatcher's concurrency).
func TestKilledWhileReceiptsFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	smsc := startSMSC(t, smpp.SMSCConfig{ReceiptDelay: 50 * time.Millisecond, ReceiptRetry: 200 * time.Millisecond,
		Rules: smpp.DefaultRules, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	if _, err := e.Stack.Admin.SetKeyRate(context.Background(), e.Demo.KeyID, admin.MaxRatePerMinute); err != nil {
		t.Fatal(err)
	}

	var child *exec.Cmd
	start := func() {
		t.Helper()
		child = exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), crashChildEnv+"=1", "KAFKA_BROKERS="+strings.Join(e.Brokers, ","),
			"DATABASE_URL="+e.DBURL, "ZIETT_TEST_SMSC="+smsc.Addr())
		child.Stdout, child.Stderr = io.Discard, os.Stderr
		if !testing.Verbose() {
			child.Stderr = io.Discard
		}
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
	}
	kill := func() {
		t.Helper()
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait() //nolint:errcheck // killed
	}
	start()
	t.Cleanup(func() {
		if child.ProcessState == nil {
			child.Process.Kill() //nolint:errcheck
			child.Wait()         //nolint:errcheck
		}
	})

	// 20 campaigns of 100 over two providers (unitel 500/s, movicel 300/s
	// in the shipped rules): seconds of sending, receipts 50 ms behind.
	// Numbers ending 13/14/15 get UNDELIV/REJECTD/EXPIRED, 19 is refused
	// at submit.
	const campaigns, per = 20, 100
	ids := make([]uuid.UUID, campaigns)
	for c := range campaigns {
		req := e.SeedRequest()
		var rs []string
		for i := range per {
			prefix := "+24492"
			if i%2 == 1 {
				prefix = "+24499"
			}
			rs = append(rs, fmt.Sprintf("%s%02d%05d", prefix, c, i))
		}
		req["recipients"] = rs
		ids[c] = e.Submit(req)
	}
	total := campaigns * (per - 1) // one refused per campaign
	ctx := context.Background()
	count := func(q string) int {
		var n int
		if err := e.Stack.DB.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	receipted := `SELECT count(*) FROM messages WHERE status IN ('DELIVERED','UNDELIVERED','EXPIRED','REJECTED')`
	// The first kill once receipts are being applied, the second while
	// the SMSC is still taking submissions.
	waitFor := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("never reached %s before a kill", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("15% of receipts applied", func() bool { return count(receipted) >= total*15/100 })
	kill()
	t.Logf("first kill at %d receipts applied; SMSC %+v", count(receipted), smsc.Stats())
	start()
	waitFor("60% of messages submitted", func() bool { return smsc.Stats().Submits >= int64(total*60/100) })
	kill()
	t.Logf("second kill at %d receipts applied; SMSC %+v", count(receipted), smsc.Stats())
	start()

	deadline := time.Now().Add(90 * time.Second)
	for count(receipted) < total || count(`SELECT count(*) FROM campaigns WHERE status = 'COMPLETED'`) < campaigns {
		if time.Now().After(deadline) {
			t.Fatalf("after the restarts: %d of %d receipts applied, %d campaigns completed", count(receipted), total,
				count(`SELECT count(*) FROM campaigns WHERE status = 'COMPLETED'`))
		}
		time.Sleep(50 * time.Millisecond)
	}

	outcomes, receipts := map[uuid.UUID]int{}, map[uuid.UUID]int{}
	statusOf := map[uuid.UUID]string{}
	for _, ev := range e.Events(kafkalog.MessageEvents, nil) {
		switch ev.Type {
		case events.MessageSent, events.MessageFailed:
			var o events.MessageOutcome
			if err := ev.Decode(&o); err != nil {
				t.Fatal(err)
			}
			outcomes[o.MessageID]++
			if ev.Type == events.MessageFailed {
				statusOf[o.MessageID] = "FAILED " + o.ErrorCode
			}
		case events.MessageDelivered, events.MessageUndelivered:
			var r events.MessageReceipt
			if err := ev.Decode(&r); err != nil {
				t.Fatal(err)
			}
			receipts[r.MessageID]++
			statusOf[r.MessageID] = r.Status
		}
	}
	wantStatus := map[string]string{"13": "UNDELIVERED", "14": "REJECTED", "15": "EXPIRED", "19": "FAILED ESME_RINVDSTADR"}
	for c, id := range ids {
		for i := range per {
			m := events.MessageID(id, i)
			want := wantStatus[fmt.Sprintf("%02d", i%100)]
			wantReceipts := 1
			if i == 19 {
				wantReceipts = 0
			}
			if outcomes[m] != 1 || receipts[m] != wantReceipts {
				t.Errorf("campaign %d message %d: %d outcomes, %d receipt events; want 1 and %d", c, i, outcomes[m], receipts[m], wantReceipts)
			}
			if want == "" {
				want = "DELIVERED"
			}
			if statusOf[m] != want {
				t.Errorf("campaign %d message %d: receipt status %s, want %s", c, i, statusOf[m], want)
			}
		}
	}
	for _, id := range ids {
		c := e.Do("GET", "/c/v1/campaigns/"+id.String(), e.Demo.APIKey, nil).JSON(t)
		m := c["messages"].(map[string]any)
		if c["status"] != "COMPLETED" || m["sent"] != float64(per-1) || m["failed"] != 1.0 || m["delivered"] != float64(per-4) ||
			m["undelivered"] != 1.0 || m["rejected"] != 1.0 || m["expired"] != 1.0 {
			t.Errorf("campaign %s: %v %v", id, c["status"], m)
		}
	}
	st := smsc.Stats()
	// Two kills, two providers, each dispatcher with 64 sends in flight at
	// most: the only messages that can reach the SMSC twice.
	bound := int64(2 * 2 * 64)
	t.Logf("SMSC after the kills: %+v (duplicates allowed: %d)", st, bound)
	if st.Duplicates > bound {
		t.Errorf("%d parts reached the SMSC twice; the window allows at most %d", st.Duplicates, bound)
	}
	if st.Submits-st.Duplicates != int64(total) {
		t.Errorf("SMSC accepted %d distinct parts, want %d", st.Submits-st.Duplicates, total)
	}
}

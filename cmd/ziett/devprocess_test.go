package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/embedded/datalock"
	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/events"
)

// runMainEnv makes the test binary run the command itself (main with the
// arguments it was given), so tests can start, kill -9 and restart real
// `ziett dev` processes without building the binary.
const runMainEnv = "ZIETT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// devProc is a `ziett dev` process.
type devProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	api  string
	demo admin.Demo
	// brokers is where its embedded broker listens.
	brokers []string
	// started is when the process was started, ready when it served.
	started, ready time.Time
}

// startDev runs `ziett dev` over dataDir with free ports and the given
// extra environment, appends its output to logPath, and waits until it
// serves.
func startDev(t *testing.T, dataDir, logPath string, env ...string) *devProc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n=== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(os.Args[0], "dev")
	cmd.Env = append(os.Environ(), append([]string{runMainEnv + "=1", "ZIETT_DATA_DIR=" + dataDir,
		"ZIETT_HTTP_ADDR=127.0.0.1:0", "ZIETT_KAFKA_ADDR=127.0.0.1:0", "ZIETT_LOG_LEVEL=warn"}, env...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &devProc{cmd: cmd, done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }() //nolint:errcheck // the exit is checked through done
	t.Cleanup(func() { p.kill(t) })

	// The lock file names the process and its addresses once they are
	// known; the API's address is set after the components started.
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-p.done:
			t.Fatalf("ziett dev exited: %v\n%s", cmd.ProcessState, tail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ziett dev did not start within a minute\n%s", tail(logPath))
		}
		var h datalock.Holder
		if b, err := os.ReadFile(filepath.Join(dataDir, datalock.FileName)); err == nil && json.Unmarshal(b, &h) == nil &&
			h.PID == cmd.Process.Pid && !strings.HasSuffix(h.Addrs["api"], ":0") {
			p.api, p.brokers = h.Addrs["api"], strings.Split(h.Addrs["kafka"], ",")
			if resp, err := http.Get("http://" + p.api + "/healthz"); err == nil {
				resp.Body.Close()
				if b, err := os.ReadFile(filepath.Join(dataDir, "demo.json")); err == nil &&
					json.Unmarshal(b, &p.demo) == nil && p.demo.BaseURL == "http://"+p.api {
					p.ready = time.Now()
					return p
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 ends the process the way a crash does.
func (p *devProc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-p.done
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

func (p *devProc) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+p.api+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-KEY", p.demo.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m) //nolint:errcheck // a status without a body is checked by the caller
	return resp.StatusCode, m
}

// submit posts a campaign of n recipients from first on, retrying while
// the API's rate limit refuses it.
func (p *devProc) submit(t *testing.T, name string, first, n int) uuid.UUID {
	t.Helper()
	recips := make([]string, n)
	for i := range recips {
		recips[i] = fmt.Sprintf("+24499%07d", first+i) // movicel
	}
	body := map[string]any{"name": name, "remitter_id": p.demo.RemitterID, "channel_type": "SMS",
		"country_alpha2": "AO", "content": "Hello", "recipients": recips}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, m := p.do(t, http.MethodPost, "/c/v1/campaigns/batch", body)
		if status == http.StatusAccepted {
			return uuid.MustParse(m["campaign_id"].(string))
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("POST batch: %d %v", status, m)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitCampaign polls Retrieve Campaign until ok accepts it.
func (p *devProc) waitCampaign(t *testing.T, id uuid.UUID, timeout time.Duration, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		status, m := p.do(t, http.MethodGet, "/c/v1/campaigns/"+id.String(), nil)
		if status == http.StatusOK && ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s: still %d %v after %s", id, status, m, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func messageCount(m map[string]any, key string) int {
	msgs, _ := m["messages"].(map[string]any)
	n, _ := msgs[key].(float64)
	return int(n)
}

func kafkaClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// committedRecord is a record as a read_committed consumer sees it.
type committedRecord struct {
	Offset              int64
	Key, Value, Headers string
}

// readCommitted reads every partition of every topic up to its last
// stable offset, passing each record to each (if set) too.
func readCommitted(t *testing.T, brokers []string, each func(*kgo.Record)) map[string][]committedRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(kafkaClient(t, brokers))
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, tds.Names()...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]committedRecord{}
	ends.Each(func(o kadm.ListedOffset) {
		k := fmt.Sprintf("%s/%d", o.Topic, o.Partition)
		if _, err := kafkalog.ReadPartition(ctx, brokers, o.Topic, o.Partition, 0, o.Offset, func(r *kgo.Record) {
			var hs strings.Builder
			for _, h := range r.Headers {
				fmt.Fprintf(&hs, "%s=%q;", h.Key, h.Value)
			}
			out[k] = append(out[k], committedRecord{r.Offset, string(r.Key), string(r.Value), hs.String()})
			if each != nil {
				each(r)
			}
		}); err != nil {
			t.Fatalf("read %s up to %d: %v", k, o.Offset, err)
		}
	})
	return out
}

func committedValues(recs []committedRecord) []string {
	var vs []string
	for _, r := range recs {
		vs = append(vs, r.Value)
	}
	return vs
}

func groupOffsets(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for p, o := range offs[topic] {
		out[p] = o.At
	}
	return out
}

// TestDevSurvivesKill9 kills a loaded `ziett dev` (its embedded broker and
// data directory included) with SIGKILL and restarts it from disk:
//
//   - a transaction open at the kill stays aborted and the same
//     transactional id's later commits stay visible, across two restarts
//     (docs/embedded-broker-crash-recovery.md);
//   - every queue partition with work resumes before any other partition
//     has worked through its backlog, not after (docs/partition-fairness.md);
//   - every campaign completes with each message sent exactly once, and a
//     kill of the idle process changes nothing a read_committed reader sees;
//   - a second `ziett dev` on the same data directory is refused with a
//     message naming the running one.
func TestDevSurvivesKill9(t *testing.T) {
	pg, cleanup, err := pgcluster.SharedForTests()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dbURL, err := pg.FreshDatabase(ctx, "devkill")
	if err != nil {
		t.Fatal(err)
	}
	dataDir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "dev.log")
	env := []string{"DATABASE_URL=" + dbURL}
	p := startDev(t, dataDir, logPath, env...)

	// A transactional producer of the test's own on the same broker:
	// commits A, leaves B open at the kill, commits C after the restart.
	const crashTopic, txnID = "test.crash", "test-crash"
	if _, err := kadm.NewClient(kafkaClient(t, p.brokers)).CreateTopic(ctx, 2, 1, nil, crashTopic); err != nil {
		t.Fatal(err)
	}
	txn := func(brokers []string, commit bool, vals ...string) {
		t.Helper()
		cl := kafkaClient(t, brokers, kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(crashTopic))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	txn(p.brokers, true, "a0", "a1", "a2", "a3")

	// A backlog on every partition of one provider's queue: 3,000
	// messages at the shipped 300 per second. One campaign at a time, so
	// that each is queued by its own transaction: a fetch hands over whole
	// producer batches, and three per partition are what lets the test
	// tell a partition's turn from its whole backlog.
	const perCampaign = 1000
	var ids []uuid.UUID
	for i := range 3 {
		id := p.submit(t, fmt.Sprintf("kill-%d", i), i*perCampaign, perCampaign)
		p.waitCampaign(t, id, time.Minute, func(m map[string]any) bool { return messageCount(m, "total") == perCampaign })
		ids = append(ids, id)
	}
	txn(p.brokers, false, "b0", "b1", "b2", "b3")
	group, queue := service.DispatcherGroup("movicel"), kafkalog.DeliveryTopic("movicel")
	before := groupOffsets(t, kadm.NewClient(kafkaClient(t, p.brokers)), group, queue)
	p.kill(t)

	p = startDev(t, dataDir, logPath, env...)
	t.Run("a second process on the data directory is refused", func(t *testing.T) {
		second := exec.Command(os.Args[0], "dev")
		second.Env = append(os.Environ(), runMainEnv+"=1", "ZIETT_DATA_DIR="+dataDir, "DATABASE_URL="+dbURL,
			"ZIETT_HTTP_ADDR=127.0.0.1:0", "ZIETT_KAFKA_ADDR=127.0.0.1:0")
		out, err := second.CombinedOutput()
		if err == nil {
			t.Fatalf("second ziett dev exited 0:\n%s", out)
		}
		for _, want := range []string{"in use by", "pid " + strconv.Itoa(p.cmd.Process.Pid), "api " + p.api, "kafka " + p.brokers[0]} {
			if !strings.Contains(string(out), want) {
				t.Errorf("second ziett dev's error does not name %q:\n%s", want, out)
			}
		}
	})

	// Every partition with work commits long before the backlog is done.
	adm := kadm.NewClient(kafkaClient(t, p.brokers))
	endsListed, err := adm.ListEndOffsets(ctx, queue)
	if err != nil {
		t.Fatal(err)
	}
	backlog, waiting := int64(0), map[int32]bool{}
	endsListed.Each(func(o kadm.ListedOffset) {
		if o.Offset > before[o.Partition] {
			backlog += o.Offset - before[o.Partition]
			waiting[o.Partition] = true
		}
	})
	// The dispatcher works while the campaigns are queued; on a slow
	// machine it may have finished a partition or two before the kill.
	if len(waiting) < 5 || backlog < 1500 {
		t.Fatalf("the kill left %d offsets of work on %d of 8 partitions (before %v); the test needs a backlog on most", backlog, len(waiting), before)
	}
	var done int64
	var trace []string // each partition's first commit, for a failure
	for len(waiting) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("partitions %v committed nothing after the restart", waiting)
		}
		now := groupOffsets(t, adm, group, queue)
		done = 0
		for part, at := range now {
			done += max(0, at-before[part])
		}
		for part, at := range now {
			if at > before[part] && waiting[part] {
				delete(waiting, part)
				end, _ := endsListed.Lookup(queue, part)
				trace = append(trace, fmt.Sprintf("p%d (%d..%d) at %s, %d done", part, before[part], end.Offset,
					time.Since(p.started).Round(10*time.Millisecond), done))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("every queue partition with work committed %s after the restart began (serving after %s), with %d of %d backlog offsets done",
		time.Since(p.started).Round(10*time.Millisecond), p.ready.Sub(p.started).Round(10*time.Millisecond), done, backlog)
	// Each partition's turn is one producer batch (a third of its
	// backlog); draining partitions one after the other instead does
	// nearly all of it before the last one starts.
	if done*3 > backlog*2 {
		t.Errorf("%d of %d backlog offsets were done before the last partition with work committed anything; first commits: %s",
			done, backlog, strings.Join(trace, "; "))
	}

	// The producer's next transaction after the crash is visible.
	txn(p.brokers, true, "c0", "c1", "c2", "c3")
	for _, id := range ids {
		m := p.waitCampaign(t, id, time.Minute, func(m map[string]any) bool { return m["status"] == "COMPLETED" })
		if s := messageCount(m, "sent"); s != perCampaign {
			t.Errorf("campaign %s: %d sent, want %d", id, s, perCampaign)
		}
	}
	outcomes := map[uuid.UUID]int{}
	view := readCommitted(t, p.brokers, func(r *kgo.Record) {
		if r.Topic != kafkalog.MessageEvents {
			return
		}
		env, err := kafkalog.Decode(r)
		if err != nil || (env.Type != events.MessageSent && env.Type != events.MessageFailed) {
			return
		}
		var o events.MessageOutcome
		if err := json.Unmarshal(env.Data, &o); err != nil {
			t.Error(err)
		}
		outcomes[o.MessageID]++
	})
	if len(outcomes) != len(ids)*perCampaign {
		t.Errorf("%d messages have an outcome, want %d", len(outcomes), len(ids)*perCampaign)
	}
	for id, n := range outcomes {
		if n != 1 {
			t.Errorf("message %s has %d outcomes", id, n)
		}
	}
	wantCrash := []string{"a0", "a1", "a2", "a3", "c0", "c1", "c2", "c3"}
	got := append(committedValues(view[crashTopic+"/0"]), committedValues(view[crashTopic+"/1"])...)
	slices.Sort(got)
	if !slices.Equal(got, wantCrash) {
		t.Errorf("after the first restart %s holds %v, want %v", crashTopic, got, wantCrash)
	}

	// Idle now: a kill and a restart must change nothing a reader sees.
	p.kill(t)
	p = startDev(t, dataDir, logPath, env...)
	after := readCommitted(t, p.brokers, nil)
	for k, recs := range view {
		if got := after[k]; len(got) < len(recs) || !slices.Equal(got[:len(recs)], recs) {
			t.Errorf("%s changed across the kill: %d committed records before, %d after", k, len(recs), len(got))
		}
	}
	if t.Failed() {
		t.Logf("ziett dev output:\n%s", tail(logPath))
	}
}

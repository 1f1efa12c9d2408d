package kafkalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

const (
	in   = kafkalog.OrgEvents
	out  = kafkalog.MessageEvents
	snap = "snap"
)

// sumCampaign keys every output, so they all land in one partition.
var sumCampaign = uuid.MustParse("019b4b56-e704-7c30-83a0-527df63c3e00")

// number is an event carrying an integer (a credit of that amount).
func number(n int64) events.Envelope {
	e, err := events.New(uuid.New(), uuid.Nil, sumCampaign, events.FundsCreditedV1{Amount: n, Currency: "AOA"}, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		panic(err)
	}
	return e
}

func numberOf(e events.Envelope) int64 {
	var c events.FundsCreditedV1
	_ = e.Decode(&c)
	return c.Amount
}

// summer keeps, per partition, the sum of the integers it consumed and
// emits the running sum for each: any lost or doubled input, or a wrong
// rebuild, shows in the outputs.
type summer struct {
	mu     sync.Mutex
	sums   map[int32]int64
	folded atomic.Int64
	// onSnapshot runs when the loop snapshots a partition, which it does
	// after the batch's outputs are produced, before the commit.
	onSnapshot func()
}

func newSummer() *summer { return &summer{sums: map[int32]int64{}} }

func (s *summer) add(m events.Message) int64 {
	n := numberOf(m.Event)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sums[m.At.Shard] += n
	return s.sums[m.At.Shard]
}

func (s *summer) Fold(m events.Message) { s.folded.Add(1); s.add(m) }
func (s *summer) Handle(_ context.Context, in []events.Message) ([]events.Message, error) {
	var outs []events.Message
	for _, m := range in {
		outs = append(outs, events.OnMessageStream(number(s.add(m))))
	}
	return outs, nil
}
func (s *summer) Forget(_ string, p int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sums, p)
}
func (s *summer) Snapshot(_ string, p int32) (json.RawMessage, error) {
	if s.onSnapshot != nil {
		s.onSnapshot()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.sums[p])
}
func (s *summer) Restore(_ string, p int32, state json.RawMessage) error {
	var v int64
	if err := json.Unmarshal(state, &v); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sums[p] = v
	return nil
}

type env struct {
	t       *testing.T
	brokers []string
	cl      *kgo.Client
}

// newEnv starts a broker with topics of the given number of partitions;
// the tests' inputs all go to partition 0 and outputs all to one partition.
func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(t.Context(), partitions, 1, nil, in, out); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(t.Context(), partitions, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, snap); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, brokers: c.ListenAddrs(), cl: cl}
}

// produce appends the integers from..to-1 to partition 0 of in.
func (e *env) produce(from, to int) {
	e.t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		r := kafkalog.Encode(in, uuid.Nil, number(int64(i)))
		r.Partition = 0
		recs = append(recs, r)
	}
	if err := e.cl.ProduceSync(e.t.Context(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// outputs reads the committed running sums on out (all in one partition,
// since they share a key).
func (e *env) outputs() []int64 {
	e.t.Helper()
	ends, err := kadm.NewClient(e.cl).ListCommittedOffsets(e.t.Context(), out)
	if err != nil {
		e.t.Fatal(err)
	}
	var sums []int64
	ends.Each(func(end kadm.ListedOffset) {
		if _, err := kafkalog.ReadPartition(e.t.Context(), e.brokers, out, end.Partition, 0, end.Offset, func(r *kgo.Record) {
			ev, err := kafkalog.Decode(r)
			if err != nil {
				e.t.Fatal(err)
			}
			sums = append(sums, numberOf(ev))
		}); err != nil {
			e.t.Fatal(err)
		}
	})
	return sums
}

// waitOutputs polls until out holds n committed records.
func (e *env) waitOutputs(n int) []int64 {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := e.outputs()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) loopConfig(s *summer, instance string) kafkalog.TxLoopConfig {
	return kafkalog.TxLoopConfig{Client: kafkalog.ClientConfig{Brokers: e.brokers}, Group: "g", Topics: []string{in}, Stage: s, InstanceID: instance,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Snapshots: kafkalog.SnapshotPolicy{Topic: snap, Every: 10}}
}

func (e *env) loop(s *summer, instance string) *kafkalog.TxLoop {
	return e.newLoop(e.loopConfig(s, instance))
}

func (e *env) newLoop(c kafkalog.TxLoopConfig) *kafkalog.TxLoop {
	e.t.Helper()
	l, err := kafkalog.NewTxLoop(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func start(t *testing.T, l *kafkalog.TxLoop) (stop func(), done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- l.Run(ctx) }()
	return func() {
		cancel()
		if err := <-ch; err != nil {
			t.Errorf("loop stopped with %v", err)
		}
	}, ch
}

// triangular is the running sum of 0..n-1 at each step.
func triangular(n int) []int64 {
	out := make([]int64, n)
	var s int64
	for i := range n {
		s += int64(i)
		out[i] = s
	}
	return out
}

func checkSums(t *testing.T, got []int64, n int) {
	t.Helper()
	want := triangular(n)
	if len(got) != n {
		t.Fatalf("%d outputs, want %d", len(got), n)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output %d = %d, want %d (state lost or doubled)", i, got[i], want[i])
		}
	}
}

// A new owner starts from the latest snapshot and folds only the records
// after it, and ends up with the state a full fold would give.
func TestRebuildFromSnapshotFoldsOnlyTheTail(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(0, 95)
	first := newSummer()
	stop, _ := start(t, e.loop(first, ""))
	checkSums(t, e.waitOutputs(95), 95)
	stop()

	s, err := kafkalog.LatestSnapshot(t.Context(), e.brokers, snap, in, 0)
	if err != nil || s == nil {
		t.Fatalf("no snapshot after 95 records: %v", err)
	}
	if s.NextOffset < 90 || s.NextOffset > 95 {
		t.Fatalf("latest snapshot covers up to %d, want within the last 10 records", s.NextOffset)
	}

	e.produce(95, 100)
	second := newSummer()
	stop, _ = start(t, e.loop(second, ""))
	checkSums(t, e.waitOutputs(100), 100)
	stop()
	if n := second.folded.Load(); n > 10 {
		t.Fatalf("rebuild folded %d records, want at most the 10 after the snapshot", n)
	}
}

// Without a snapshot topic the rebuild folds the whole partition, and is
// just as correct.
func TestRebuildWithoutSnapshotsFoldsEverything(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(0, 30)
	c := e.loopConfig(newSummer(), "")
	c.Snapshots = kafkalog.SnapshotPolicy{}
	stop, _ := start(t, e.newLoop(c))
	checkSums(t, e.waitOutputs(30), 30)
	stop()
	e.produce(30, 31)
	second := newSummer()
	c = e.loopConfig(second, "")
	c.Snapshots = kafkalog.SnapshotPolicy{}
	stop, _ = start(t, e.newLoop(c))
	checkSums(t, e.waitOutputs(31), 31)
	stop()
	if n := second.folded.Load(); n != 30 {
		t.Fatalf("rebuild folded %d records, want 30", n)
	}
}

// A loop killed after emitting, before committing, leaves nothing visible;
// its restart (same instance id) aborts the open transaction at once and
// redoes the work exactly once.
func TestKilledLoopRestartsExactlyOnce(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(0, 50)
	s := newSummer()
	l := e.loop(s, "a")
	var kills atomic.Int32
	s.onSnapshot = func() {
		if kills.Add(1) == 1 {
			l.Kill()
		}
	}
	_, done := start(t, l)
	select {
	case err := <-done:
		if !errors.Is(err, kafkalog.ErrKilled) {
			t.Fatalf("killed loop returned %v, want ErrKilled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("killed loop did not stop")
	}
	if got := e.outputs(); len(got) != 0 {
		t.Fatalf("%d outputs of the killed transaction are visible", len(got))
	}

	began := time.Now()
	stop, _ := start(t, e.loop(newSummer(), "a"))
	checkSums(t, e.waitOutputs(50), 50)
	stop()
	// The default transaction timeout is 40 s: finishing well within it
	// shows the restart aborted the open transaction rather than waiting.
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("restart took %s to get past the killed transaction", took)
	}
}

// A restarted loop whose partitions mix committed offsets and empty ones
// resumes within a second, not after a fetch's full max wait.
func TestRestartResumesPromptly(t *testing.T) {
	e := newEnv(t, 4)
	e.produce(0, 10)
	stop, _ := start(t, e.loop(newSummer(), "a"))
	checkSums(t, e.waitOutputs(10), 10)
	stop()
	e.produce(10, 20)
	began := time.Now()
	stop, _ = start(t, e.loop(newSummer(), "a"))
	checkSums(t, e.waitOutputs(20), 20)
	stop()
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("restart took %s to resume", took)
	}
}

// EnsureTopics is idempotent: a restart finds every topic in place.
func TestEnsureTopicsTwice(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for range 2 {
		if err := kafkalog.EnsureTopics(t.Context(), cl, kafkalog.Layout{Partitions: 3}, []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	tds, err := kadm.NewClient(cl).ListTopics(t.Context(), kafkalog.ProcessorSnapshots, kafkalog.OrgEvents)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := len(tds[kafkalog.ProcessorSnapshots].Partitions), len(tds[kafkalog.OrgEvents].Partitions); n != 3 || m != 3 {
		t.Fatalf("snapshot topic has %d partitions, its source %d; want 3 and 3", n, m)
	}
}

// NewTxLoop refuses a config no loop can run with, naming what is wrong,
// and fills in the defaults of the rest.
func TestNewTxLoopValidatesAndDefaults(t *testing.T) {
	valid := func() kafkalog.TxLoopConfig {
		return kafkalog.TxLoopConfig{Client: kafkalog.ClientConfig{Brokers: []string{"127.0.0.1:1"}}, Group: "g",
			Topics: []string{in}, Stage: newSummer()}
	}
	for _, tc := range []struct {
		name   string
		change func(*kafkalog.TxLoopConfig)
		want   string
	}{
		{"no brokers is refused", func(c *kafkalog.TxLoopConfig) { c.Client.Brokers = nil }, "no seed brokers"},
		{"no group is refused", func(c *kafkalog.TxLoopConfig) { c.Group = "" }, "no consumer group"},
		{"no topics are refused", func(c *kafkalog.TxLoopConfig) { c.Topics = nil }, "no topics"},
		{"no stage is refused", func(c *kafkalog.TxLoopConfig) { c.Stage = nil }, "no stage"},
		{"negative fetch bytes are refused", func(c *kafkalog.TxLoopConfig) { c.PartitionFetchBytes = -1 }, "negative partition fetch bytes"},
		{"a negative snapshot policy is refused", func(c *kafkalog.TxLoopConfig) { c.Snapshots.Every = -1 }, "negative snapshot policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			if _, err := kafkalog.NewTxLoop(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewTxLoop = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	l, err := kafkalog.NewTxLoop(valid())
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config(); got.Log != slog.Default() || got.Committed == nil || got.BeforeCommit == nil {
		t.Fatalf("defaults not applied: %+v", got)
	}
}

// Records a stage could never handle (no event headers, an event whose
// payload does not decode) are skipped by the loop: the stage sees only the
// good ones, in order, the bad ones' offsets commit with them, and a new
// owner's rebuild skips them the same way.
func TestUndecodableRecordsAreSkipped(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(0, 5)
	bad := number(7)
	bad.Data = []byte(`{"amount":"seven"}`)
	noHeaders := &kgo.Record{Topic: in, Partition: 0, Value: []byte(`{"amount":7}`)}
	badPayload := kafkalog.Encode(in, uuid.Nil, bad)
	badPayload.Partition = 0
	if err := e.cl.ProduceSync(t.Context(), noHeaders, badPayload).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.produce(5, 10)
	stop, _ := start(t, e.loop(newSummer(), ""))
	checkSums(t, e.waitOutputs(10), 10)
	stop()
	// A new owner folds the partition, bad records included, to the same
	// sum: the next input's output continues the series.
	e.produce(10, 11)
	second := newSummer()
	stop, _ = start(t, e.loop(second, ""))
	checkSums(t, e.waitOutputs(11), 11)
	stop()
	ends, err := kadm.NewClient(e.cl).FetchOffsets(t.Context(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := ends.Lookup(in, 0); !ok || o.At != 13 {
		t.Fatalf("committed offset %+v, want 13 (past the two skipped records)", o)
	}
}

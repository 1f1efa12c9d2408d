// Package kafkalog is the event store: it writes events to Kafka, reads
// them back, and runs the transactional consume-produce loops that turn
// events into further events exactly once.
package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"ziett.co/campaigns/domain/events"
)

// Stage is a step of the pipeline: a function of the messages it consumes
// to the messages it produces. The loop owns everything Kafka: it decodes
// the records into messages, encodes the outputs (topics, keys, headers)
// and commits them with the consumed offsets. A stage's state, if any,
// must be a pure fold of the messages of the shards it owns: that is what
// lets a new owner rebuild it.
type Stage interface {
	// Fold applies a message that an earlier owner already handled (its
	// outputs are in the log), to rebuild state. It produces nothing.
	Fold(m events.Message)
	// Handle processes new messages of one shard, in order, and returns
	// its outputs. Outputs and the consumed offsets commit in one
	// transaction, or not at all.
	Handle(ctx context.Context, in []events.Message) ([]events.Message, error)
	// Forget drops the state of a shard of a log, which is rebuilt before
	// its next message is handled.
	Forget(log string, shard int32)
}

// Sharing is implemented by stages that size themselves by the share of
// their topics' partitions this loop owns, such as a dispatcher splitting a
// provider's throughput limit among the members of its group. Share is
// called after every change of assignment, never during Handle.
type Sharing interface {
	Share(owned, total int)
}

// Batcher is implemented by stages that bound how many records one
// transaction may take (0 means no bound), so that a slow stage (one that
// waits on a rate limit) finishes a transaction well within its timeout.
type Batcher interface {
	MaxBatch() int
}

// ErrKilled is what Run returns after Kill.
var ErrKilled = errors.New("kafkalog: loop killed")

// Defaults of TxLoopConfig.
const (
	// DefaultTxLoopFetchMaxWait is how long the broker may hold a fetch
	// open when it has nothing to return.
	DefaultTxLoopFetchMaxWait = 500 * time.Millisecond
)

// TxLoopConfig configures a TxLoop. NewTxLoop applies the defaults and
// validates it; a running loop never changes it.
type TxLoopConfig struct {
	// Client is the cluster and the options every client shares. Required.
	Client ClientConfig
	// Group is the consumer group; the transactional id derives from it.
	// Required.
	Group string
	// Topics are consumed. Required.
	Topics []string
	// Stage handles what the loop consumes. Required.
	Stage Stage
	// Stateless skips the rebuild for stages that keep no state.
	// Default: false (the stage's state is rebuilt from its partitions).
	Stateless bool
	// Log receives the loop's warnings. Default: slog.Default().
	Log *slog.Logger
	// InstanceID, when set, makes this loop a static group member with a
	// stable transactional id (group + "-" + InstanceID). A restarted
	// instance then takes its partitions back at once, without a
	// rebalance, and its first InitProducerID aborts whatever transaction
	// the previous incarnation left open; without it, an open transaction
	// of a crashed instance holds back every read_committed reader of its
	// partitions until the transaction times out. Two live instances must
	// never share an id. Default: "" (a dynamic member with a random
	// transactional id).
	InstanceID string
	// Snapshots, for a Stage that is a Snapshotter, bounds the rebuild to
	// the latest snapshot plus the records after it. Default: none (a
	// rebuild folds the whole partition).
	Snapshots SnapshotPolicy
	// Committed is told of every batch that committed (the stage
	// throughput metrics). Default: nothing is told.
	Committed func(kgo.Fetches)
	// PartitionFetchBytes, when positive, bounds how much of one partition
	// a fetch buffers, and each fetch starts from the next partition. A
	// consumer takes buffered records partition by partition, so with the
	// client's default (1 MiB, thousands of records) a slow stage works
	// through one partition's megabyte, then the next one's, while the last
	// partitions of a backlog wait minutes; with a few KiB every partition
	// with work gets a turn every few seconds. Fetch sessions are off
	// with it, since the broker answers a session's partitions in its own
	// order, not the rotated order of the request. Default: 0 (the
	// client's default).
	PartitionFetchBytes int32
	// BeforeCommit is called once a transaction's outputs are handed to
	// the producer, right before the commit: the moment a crash leaves the
	// most behind. Crash tests Kill the loop there. Default: nothing.
	BeforeCommit func()
}

func (c *TxLoopConfig) setDefaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Committed == nil {
		c.Committed = func(kgo.Fetches) {}
	}
	if c.BeforeCommit == nil {
		c.BeforeCommit = func() {}
	}
}

// Validate reports a config no loop can run with.
func (c TxLoopConfig) Validate() error {
	if err := c.Client.Validate(); err != nil {
		return err
	}
	switch {
	case c.Group == "":
		return errors.New("tx loop: no consumer group")
	case len(c.Topics) == 0:
		return fmt.Errorf("tx loop %s: no topics", c.Group)
	case c.Stage == nil:
		return fmt.Errorf("tx loop %s: no stage", c.Group)
	case c.PartitionFetchBytes < 0:
		return fmt.Errorf("tx loop %s: negative partition fetch bytes %d", c.Group, c.PartitionFetchBytes)
	case c.Snapshots.Every < 0 || c.Snapshots.Interval < 0:
		return fmt.Errorf("tx loop %s: negative snapshot policy %+v", c.Group, c.Snapshots)
	}
	return nil
}

// TxLoop runs a Stage in a consumer group with Kafka transactions
// (read-process-write exactly once).
type TxLoop struct {
	cfg TxLoopConfig

	mu       sync.Mutex
	built    map[tp]bool
	sess     *kgo.GroupTransactSession
	owned    map[tp]bool
	totals   map[string]int
	progress map[tp]*snapProgress
	// snapParts is the snapshot topic's partition count; 0 disables
	// snapshots.
	snapParts int32

	killed   atomic.Bool
	killOnce sync.Once
	killDone chan struct{}
}

type tp struct {
	topic     string
	partition int32
}

// Kill stops the loop the way a crash would: everything produced so far is
// flushed to the broker, the transaction is neither committed nor aborted,
// and the client is closed without leaving the group. Run then returns
// ErrKilled. It exists so tests can prove that a crash at any point loses
// and duplicates nothing.
func (l *TxLoop) Kill() {
	l.killOnce.Do(func() {
		done := make(chan struct{})
		l.mu.Lock()
		l.killDone = done
		sess := l.sess
		l.killed.Store(true)
		l.mu.Unlock()
		go func() {
			defer close(done)
			if sess == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			sess.Client().Flush(ctx) //nolint:errcheck // a crash does not wait either
			cancel()
			// Allowing the pending rebalance lets Close proceed; the
			// callbacks see the kill and leave the stage alone.
			sess.CloseAllowingRebalance()
		}()
	})
}

// waitKilled waits for Kill to finish closing the client. The loop may
// have polled after Kill allowed rebalancing, and a poll blocks the group
// from being left until rebalancing is allowed again, which Close waits
// for: allow it once more.
func (l *TxLoop) waitKilled() error {
	l.mu.Lock()
	sess := l.sess
	l.mu.Unlock()
	if sess != nil {
		sess.AllowRebalance()
	}
	<-l.killDone
	return ErrKilled
}

// NewTxLoop applies cfg's defaults, validates it and returns the loop.
func NewTxLoop(cfg TxLoopConfig) (*TxLoop, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &TxLoop{cfg: cfg}, nil
}

// Config is the loop's config, defaults applied.
func (l *TxLoop) Config() TxLoopConfig { return l.cfg }

// Run consumes until ctx is done. It returns nil on a clean stop.
func (l *TxLoop) Run(ctx context.Context) error {
	l.built = map[tp]bool{}
	l.owned = map[tp]bool{}
	l.totals = map[string]int{}
	l.progress = map[tp]*snapProgress{}
	forget := func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
		if l.killed.Load() {
			return
		}
		l.mu.Lock()
		for t, ps := range m {
			for _, p := range ps {
				delete(l.built, tp{t, p})
				delete(l.owned, tp{t, p})
				delete(l.progress, tp{t, p})
				l.cfg.Stage.Forget(t, p)
			}
		}
		l.mu.Unlock()
		l.share(ctx, cl)
	}
	assigned := func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
		if l.killed.Load() {
			return
		}
		l.mu.Lock()
		for t, ps := range m {
			for _, p := range ps {
				l.owned[tp{t, p}] = true
			}
		}
		l.mu.Unlock()
		l.share(ctx, cl)
	}
	txnID := l.cfg.Group + "-" + uuid.NewString()
	opts := []kgo.Opt{
		kgo.ConsumerGroup(l.cfg.Group),
		kgo.ConsumeTopics(l.cfg.Topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.OnPartitionsAssigned(assigned),
		kgo.OnPartitionsRevoked(forget),
		kgo.OnPartitionsLost(forget),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// After an assignment the client can send its first fetch before
		// every partition's start offset is loaded (committed offsets and
		// log starts arrive separately); the partitions that come later
		// wait for that fetch, which an idle broker holds for the max
		// wait. 5 s (the default) would stall every restart that long.
		kgo.FetchMaxWait(DefaultTxLoopFetchMaxWait),
		// Rebalances happen only between transactions, so Forget never
		// races Handle.
		kgo.BlockRebalanceOnPoll(),
	}
	if l.cfg.PartitionFetchBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(l.cfg.PartitionFetchBytes), kgo.DisableFetchSessions())
	}
	if l.cfg.InstanceID != "" {
		txnID = l.cfg.Group + "-" + l.cfg.InstanceID
		opts = append(opts, kgo.InstanceID(l.cfg.InstanceID))
		// The previous incarnation's open transaction holds back the
		// partitions' last stable offset, so the first fetch would wait on
		// it; fencing the id first aborts it before anything is fetched.
		if err := fenceTransactionalID(ctx, l.cfg.Client, txnID); err != nil {
			return fmt.Errorf("%s: fence transactional id %s: %w", l.cfg.Group, txnID, err)
		}
	}
	// Without a stable id, KIP-447 still fences zombies through the group
	// generation, so a random id per process is safe, only slower to
	// recover from a crash.
	opts = append(opts, kgo.TransactionalID(txnID))
	snapOn := l.snapshotsWanted()
	if snapOn {
		opts = append(opts, kgo.RecordPartitioner(snapshotPartitioner{topic: l.cfg.Snapshots.Topic}),
			kgo.ProducerBatchMaxBytesFn(func(t string) int32 {
				if t == l.cfg.Snapshots.Topic {
					return snapshotMaxBytes + 64<<10
				}
				return 1000012
			}))
	}
	sess, err := GroupTransactSession(l.cfg.Client, opts...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.sess = sess
	l.mu.Unlock()
	if l.killed.Load() {
		sess.Close()
		return l.waitKilled()
	}
	defer func() {
		if !l.killed.Load() {
			sess.CloseAllowingRebalance()
		}
	}()
	if snapOn {
		l.snapParts = l.snapshotPartitions(ctx, sess.Client())
	}

	backoff := 100 * time.Millisecond
	for {
		var fetches kgo.Fetches
		if b, ok := l.cfg.Stage.(Batcher); ok && b.MaxBatch() > 0 {
			fetches = sess.PollRecords(ctx, b.MaxBatch())
		} else {
			fetches = sess.PollFetches(ctx)
		}
		if l.killed.Load() {
			return l.waitKilled()
		}
		if ctx.Err() != nil {
			return nil
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			for _, fe := range errs {
				if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, kgo.ErrClientClosed) {
					return nil
				}
				l.cfg.Log.Warn("fetch error", "group", l.cfg.Group, "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
			sess.AllowRebalance()
			continue
		}
		if fetches.NumRecords() == 0 {
			sess.AllowRebalance()
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("%s: begin transaction: %w", l.cfg.Group, err)
		}
		var produceErr error
		var perrMu sync.Mutex
		emit := func(r *kgo.Record) {
			sess.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					perrMu.Lock()
					produceErr = errors.Join(produceErr, err)
					perrMu.Unlock()
				}
			})
		}
		var handleErr error
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if handleErr != nil || len(p.Records) == 0 {
				return
			}
			if err := l.ensureBuilt(ctx, p.Topic, p.Partition, p.Records[0].Offset); err != nil {
				handleErr = err
				return
			}
			outs, err := l.cfg.Stage.Handle(ctx, l.decode(p.Records))
			if handleErr = err; err != nil {
				return
			}
			for _, o := range outs {
				rec, err := EncodeMessage(o)
				if err != nil {
					handleErr = err
					return
				}
				emit(rec)
			}
			l.maybeSnapshot(p.Topic, p.Partition, len(p.Records), p.Records[len(p.Records)-1].Offset+1, emit)
		})
		if handleErr == nil {
			l.cfg.BeforeCommit()
		}
		if l.killed.Load() {
			return l.waitKilled()
		}
		// End must not see a canceled context mid-commit: that would leave
		// the transaction in an unknown state. Shutdown waits for it.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		commit := kgo.TransactionEndTry(handleErr == nil)
		committed, err := sess.End(endCtx, commit)
		cancel()
		if l.killed.Load() {
			return l.waitKilled()
		}
		sess.AllowRebalance()
		if err != nil {
			return fmt.Errorf("%s: end transaction: %w", l.cfg.Group, err)
		}
		perrMu.Lock()
		pe := produceErr
		perrMu.Unlock()
		if !committed || pe != nil {
			// The session rewound to the last committed offsets; state that
			// absorbed the aborted records must be rebuilt.
			l.forgetAll()
			if handleErr != nil {
				l.cfg.Log.Warn("transaction aborted", "group", l.cfg.Group, "err", handleErr)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		l.cfg.Committed(fetches)
	}
}

// fenceTransactionalID registers txnID as a new producer, which makes the
// broker abort any transaction an earlier producer with that id left open.
func fenceTransactionalID(ctx context.Context, cc ClientConfig, txnID string) error {
	cl, err := Client(cc)
	if err != nil {
		return err
	}
	defer cl.Close()
	backoff := 50 * time.Millisecond
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &txnID
		req.TransactionTimeoutMillis = 40000 // franz-go's default, which the session uses too
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		// A real broker answers CONCURRENT_TRANSACTIONS while it aborts
		// the open transaction: ask again until it is done.
		if !errors.Is(err, kerr.ConcurrentTransactions) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// share tells a Sharing stage what fraction of its topics' partitions the
// loop now owns.
func (l *TxLoop) share(ctx context.Context, cl *kgo.Client) {
	s, ok := l.cfg.Stage.(Sharing)
	if !ok {
		return
	}
	var missing []string
	l.mu.Lock()
	for _, t := range l.cfg.Topics {
		if l.totals[t] == 0 {
			missing = append(missing, t)
		}
	}
	l.mu.Unlock()
	if len(missing) > 0 {
		tds, err := kadm.NewClient(cl).ListTopics(ctx, missing...)
		if err != nil {
			l.cfg.Log.Warn("cannot read partition counts", "group", l.cfg.Group, "err", err)
		}
		l.mu.Lock()
		for _, td := range tds {
			if td.Err == nil {
				l.totals[td.Topic] = len(td.Partitions)
			}
		}
		l.mu.Unlock()
	}
	l.mu.Lock()
	owned, total := len(l.owned), 0
	for _, t := range l.cfg.Topics {
		total += l.totals[t]
	}
	l.mu.Unlock()
	if total == 0 {
		// Unknown size: claim nothing rather than risk exceeding a limit.
		owned = 0
	}
	s.Share(owned, total)
}

func (l *TxLoop) forgetAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.built {
		delete(l.built, k)
		delete(l.progress, k)
		l.cfg.Stage.Forget(k.topic, k.partition)
	}
}

// ensureBuilt rebuilds a partition's state before its first record is
// handled. The first offset fetched after an assignment is the committed
// position, so folding every committed record before it reproduces exactly
// the state the previous owner had when it committed. With snapshots the
// fold starts from the latest snapshot, which the same transactions wrote.
func (l *TxLoop) ensureBuilt(ctx context.Context, topic string, partition int32, upTo int64) error {
	k := tp{topic, partition}
	l.mu.Lock()
	done := l.built[k]
	l.mu.Unlock()
	if done || l.cfg.Stateless {
		l.mu.Lock()
		l.built[k] = true
		l.mu.Unlock()
		return nil
	}
	start := time.Now()
	from, restored := l.restore(ctx, topic, partition, upTo)
	n, err := ReadPartition(ctx, l.cfg.Client.Brokers, topic, partition, from, upTo, func(r *kgo.Record) {
		if m, err := DecodeMessage(r); err == nil {
			l.cfg.Stage.Fold(m)
		}
	})
	if err != nil {
		return fmt.Errorf("rebuild %s/%d: %w", topic, partition, err)
	}
	l.mu.Lock()
	l.built[k] = true
	l.progress[k] = &snapProgress{since: n, at: time.Now()}
	l.mu.Unlock()
	l.cfg.Log.Info("state rebuilt", "group", l.cfg.Group, "topic", topic, "partition", partition,
		"from_snapshot", restored, "from", from, "up_to", upTo, "records", n, "took", time.Since(start).String())
	return nil
}

// decode turns a partition's records into the stage's messages. A record
// that does not decode cannot be handled, now or ever: it is logged and
// skipped, its offset committed with the others.
func (l *TxLoop) decode(recs []*kgo.Record) []events.Message {
	in := make([]events.Message, 0, len(recs))
	for _, r := range recs {
		m, err := DecodeMessage(r)
		if err != nil {
			l.cfg.Log.Error("skipping undecodable record", "group", l.cfg.Group, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		in = append(in, m)
	}
	return in
}

// ReadPartition calls fn for every committed record of a partition with
// from <= offset < upTo. upTo must be at most the partition's last stable
// offset. Control records (transaction markers) are fetched too, though
// not passed to fn: the record just before upTo is always either data or
// a marker, so seeing it is how the read knows it is done.
func ReadPartition(ctx context.Context, brokers []string, topic string, partition int32, from, upTo int64, fn func(*kgo.Record)) (int, error) {
	if upTo <= from {
		return 0, nil
	}
	cl, err := Client(ClientConfig{Brokers: brokers},
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err := fs.Err(); err != nil {
			return n, err
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			if stop || r.Offset >= upTo {
				stop = true
				return
			}
			if r.Offset == upTo-1 {
				stop = true
			}
			if r.Attrs.IsControl() {
				return
			}
			fn(r)
			n++
		})
		if stop {
			return n, nil
		}
	}
}

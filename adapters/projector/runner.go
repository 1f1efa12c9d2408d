// Package projector feeds the read models (projections/) from the log.
// Offsets live in Postgres next to the rows, written in one transaction, so
// a read model is exactly the fold of a prefix of the log.
package projector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/projections"
)

// Group is the consumer group of the projection's runners.
func Group(name string) string { return "ziett.projection." + name }

// errPartitionMoved means another writer advanced a partition's offset:
// this instance lost the partition, or a rebuild switched generations.
var errPartitionMoved = errors.New("offset guard: partition moved under us")

// Defaults of RunnerConfig.
const (
	// DefaultMaxBatch bounds the records applied in one transaction.
	DefaultMaxBatch = 5000
	// DefaultRunnerFetchMaxWait is how long the broker may hold a fetch
	// open when it has nothing to return (see Run).
	DefaultRunnerFetchMaxWait = 500 * time.Millisecond
	// DefaultRunnerHeartbeat is how often a member heartbeats (see Run).
	DefaultRunnerHeartbeat = time.Second
)

// RunnerConfig configures a Runner. NewRunner applies the defaults and
// validates it; a running Runner never changes it.
type RunnerConfig struct {
	// Client is the cluster and the options every client shares. Required.
	Client kafkalog.ClientConfig
	// Pool holds the read model. Required.
	Pool *pgxpool.Pool
	// Projection is what the runner feeds. Required.
	Projection projections.Projection
	// Log receives the runner's warnings. Default: slog.Default().
	Log *slog.Logger
	// MaxBatch bounds the records applied in one transaction.
	// Default: DefaultMaxBatch.
	MaxBatch int
	// InstanceID, when set, makes the runner a static member of its
	// group: restarted after a crash, it gets its partitions back at once.
	// A dynamic member that dies stalls every member of the group until
	// the broker gives up on it (the session or rebalance timeout, most of
	// a minute), because a rebalance waits for every known member. Unique
	// per member, stable across restarts; a static member that stops
	// cleanly does not leave the group either, so its partitions wait out
	// the session timeout. Default: "" (a dynamic member).
	InstanceID string
	// Committed is told of every batch that committed (the projection
	// throughput metrics). Default: nothing is told.
	Committed func(kgo.Fetches)
	// Parked is told of every event this runner parked (see parking.go),
	// with the projection's name. Default: nothing is told.
	Parked func(projection string)
}

func (c *RunnerConfig) setDefaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Committed == nil {
		c.Committed = func(kgo.Fetches) {}
	}
	if c.Parked == nil {
		c.Parked = func(string) {}
	}
}

// Validate reports a config no runner can run with.
func (c RunnerConfig) Validate() error {
	if err := c.Client.Validate(); err != nil {
		return err
	}
	switch {
	case c.Pool == nil:
		return errors.New("projection runner: no database pool")
	case c.Projection == nil:
		return errors.New("projection runner: no projection")
	case c.MaxBatch < 0:
		return fmt.Errorf("projection runner %s: negative max batch %d", c.Projection.Name(), c.MaxBatch)
	}
	return nil
}

// Runner feeds a projection from Kafka.
type Runner struct {
	cfg RunnerConfig

	// mu guards the maps: the group loads offsets for new partitions on
	// its own goroutine (AdjustFetchOffsetsFn) while the poll loop applies
	// batches of partitions it already had.
	mu sync.Mutex
	// expected is the next offset this instance believes Postgres holds
	// for each partition; the guarded update fails if another writer moved
	// it since.
	expected position
	assigned map[string]map[int32]bool
}

// NewRunner applies cfg's defaults, validates it and returns the runner.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg}, nil
}

// Run consumes until ctx is done.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	r.expected = position{}
	r.assigned = map[string]map[int32]bool{}
	r.mu.Unlock()
	name := r.cfg.Projection.Name()
	opts := []kgo.Opt{
		kgo.ConsumerGroup(Group(name)),
		kgo.ConsumeTopics(kafkalog.TopicsOf(r.cfg.Projection.Streams())...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		// Revocations wait until a batch is committed or rewound, so the
		// maps never change under a batch.
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(r.loadOffsets),
		kgo.OnPartitionsRevoked(r.drop),
		kgo.OnPartitionsLost(r.drop),
		// As in kafkalog.TxLoop: a fetch sent right after an assignment,
		// before every partition's start offset is known, holds the late
		// partitions for the whole wait on an idle broker. Partitions move
		// whenever a member joins or leaves, so 5 s (the default) would
		// stall them that long each time.
		kgo.FetchMaxWait(DefaultRunnerFetchMaxWait),
		// Members learn of a rebalance (another member joining or
		// leaving) from their heartbeat; the partitions that move wait
		// for it, so every process's members heartbeat every second
		// rather than every 3 s.
		kgo.HeartbeatInterval(DefaultRunnerHeartbeat),
	}
	if r.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(r.cfg.InstanceID))
	}
	cl, err := kafkalog.Client(r.cfg.Client, opts...)
	if err != nil {
		return err
	}
	defer cl.CloseAllowingRebalance()
	backoff := time.Duration(0)
	for {
		fs := cl.PollRecords(ctx, r.cfg.MaxBatch)
		if ctx.Err() != nil {
			return nil
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				return nil
			}
			r.cfg.Log.Warn("fetch error", "projection", name, "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		if fs.NumRecords() > 0 {
			if err := r.applyBatch(ctx, fs); err != nil {
				if ctx.Err() != nil {
					cl.AllowRebalance()
					return nil
				}
				lvl := slog.LevelError
				if errors.Is(err, errPartitionMoved) {
					lvl = slog.LevelInfo
				}
				r.cfg.Log.Log(ctx, lvl, "projection batch not applied; rewinding to the stored offsets", "projection", name, "err", err)
				// Polling again before the rewind would skip the records of
				// the failed batch, so keep trying until it succeeds.
				if !r.rewindUntilDone(ctx, cl) {
					cl.AllowRebalance()
					return nil
				}
				// A batch that fails for its content fails again: back off
				// rather than spin. A moved partition is retried at once.
				if !errors.Is(err, errPartitionMoved) {
					backoff = min(max(2*backoff, 200*time.Millisecond), 5*time.Second)
					if !sleep(ctx, backoff) {
						cl.AllowRebalance()
						return nil
					}
				}
			} else {
				backoff = 0
			}
		}
		cl.AllowRebalance()
	}
}

// sleep waits d; false means ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// batchPart is one partition's share of a batch.
type batchPart struct {
	topic     string
	partition int32
	recs      []*kgo.Record
	exp       int64
	expKnown  bool
	next      int64
}

func (r *Runner) applyBatch(ctx context.Context, fs kgo.Fetches) error {
	name := r.cfg.Projection.Name()
	var parts []batchPart
	r.mu.Lock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		bp := batchPart{topic: p.Topic, partition: p.Partition, recs: p.Records}
		bp.exp, bp.expKnown = r.expected.get(p.Topic, p.Partition)
		if bp.expKnown {
			// Records before the stored position are applied already.
			i, _ := slices.BinarySearchFunc(bp.recs, bp.exp, func(rec *kgo.Record, o int64) int { return cmp.Compare(rec.Offset, o) })
			bp.recs = bp.recs[i:]
		}
		if len(bp.recs) > 0 {
			bp.next = bp.recs[len(bp.recs)-1].Offset + 1
			parts = append(parts, bp)
		}
	})
	r.mu.Unlock()
	if len(parts) == 0 {
		return nil
	}
	// A fixed order of the offset rows: they are what competing writers
	// lock first, so they cannot deadlock on them.
	slices.SortFunc(parts, func(a, b batchPart) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})

	recs := make([]*kgo.Record, 0, fs.NumRecords())
	for _, p := range parts {
		recs = append(recs, p.recs...)
	}
	// The whole batch at once is the fast path. A batch that fails for a
	// record's sake is written again with the records that fail alone
	// parked (parking.go), so no record holds the others up.
	err := r.write(ctx, parts, recs, false)
	if isPoison(err) {
		r.cfg.Log.Warn("projection batch refused; applying it again in parts to park the records that cannot be applied",
			"projection", name, "records", len(recs), "err", err)
		err = r.write(ctx, parts, recs, true)
	}
	if err != nil {
		return err
	}
	r.cfg.Committed(fs)
	r.mu.Lock()
	for _, p := range parts {
		if r.assigned[p.topic][p.partition] {
			r.expected.set(p.topic, p.partition, p.next)
		}
	}
	r.mu.Unlock()
	return nil
}

// write applies recs and moves the offsets of parts in one transaction;
// with isolate, records that cannot be applied are parked instead of
// failing it.
func (r *Runner) write(ctx context.Context, parts []batchPart, recs []*kgo.Record, isolate bool) error {
	name := r.cfg.Projection.Name()
	tx, schema, err := beginWrite(ctx, r.cfg.Pool, name, shared)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck

	// The guard runs before the rows are written: its row lock makes a
	// competing writer of the same partition wait for this transaction and
	// then fail its own guard, instead of applying the same records at the
	// same time.
	offsets := offsetsTable(schema)
	b := &pgx.Batch{}
	for _, p := range parts {
		if p.expKnown {
			b.Queue(`UPDATE `+offsets+` SET next_offset = $4
				WHERE projection = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`,
				name, p.topic, p.partition, p.next, p.exp)
		} else {
			b.Queue(`INSERT INTO `+offsets+` (projection, topic, partition, next_offset)
				VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, name, p.topic, p.partition, p.next)
		}
	}
	br := tx.SendBatch(ctx, b)
	for _, p := range parts {
		tag, err := br.Exec()
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("%w: %s/%d (expected next offset %d)", errPartitionMoved, p.topic, p.partition, p.exp)
		}
		if err != nil {
			br.Close() //nolint:errcheck
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}

	if isolate {
		err = applyIsolating(ctx, tx, r.cfg.Projection, recs, r.park)
	} else {
		err = safeApply(ctx, r.cfg.Projection, tx, recs)
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// park stores a record the projection cannot apply and says so in the log.
func (r *Runner) park(ctx context.Context, tx pgx.Tx, rec *kgo.Record, cause error) error {
	name := r.cfg.Projection.Name()
	if err := parkIn(name, r.cfg.Parked)(ctx, tx, rec, cause); err != nil {
		return err
	}
	r.cfg.Log.Error("projection parked an event it cannot apply; see `ziett projections parked`", "projection", name,
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "err", storableError(cause))
	return nil
}

// storedPosition reads the live generation's offsets.
func (r *Runner) storedPosition(ctx context.Context) (position, error) {
	tx, schema, err := beginWrite(ctx, r.cfg.Pool, r.cfg.Projection.Name(), shared)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	return readPosition(ctx, tx, schema, r.cfg.Projection.Name())
}

// loadOffsets replaces the group's (unused) Kafka offsets with the ones
// stored beside the rows.
func (r *Runner) loadOffsets(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	pos, err := r.storedPosition(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]kgo.Offset{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, ps := range assigned {
		out[t] = map[int32]kgo.Offset{}
		if r.assigned[t] == nil {
			r.assigned[t] = map[int32]bool{}
		}
		for p := range ps {
			r.assigned[t][p] = true
			if next, ok := pos.get(t, p); ok {
				r.expected.set(t, p, next)
				out[t][p] = kgo.NewOffset().At(next).WithEpoch(-1)
			} else {
				delete(r.expected[t], p)
				out[t][p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return out, nil
}

func (r *Runner) drop(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(r.expected[t], p)
			delete(r.assigned[t], p)
		}
	}
}

// rewind moves every assigned partition back to the offsets in Postgres,
// so nothing of a failed batch is skipped and nothing applied is applied
// again. It runs between poll and AllowRebalance, so no revocation races it.
func (r *Runner) rewind(ctx context.Context, cl *kgo.Client) error {
	pos, err := r.storedPosition(ctx)
	if err != nil {
		return err
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	r.mu.Lock()
	for t, ps := range r.assigned {
		set[t] = map[int32]kgo.EpochOffset{}
		for p := range ps {
			next, ok := pos.get(t, p)
			if ok {
				r.expected.set(t, p, next)
			} else {
				delete(r.expected[t], p)
			}
			set[t][p] = kgo.EpochOffset{Epoch: -1, Offset: next}
		}
	}
	r.mu.Unlock()
	cl.SetOffsets(set)
	return nil
}

// rewindUntilDone retries the rewind with backoff; false means ctx ended.
func (r *Runner) rewindUntilDone(ctx context.Context, cl *kgo.Client) bool {
	backoff := 200 * time.Millisecond
	for {
		err := r.rewind(ctx, cl)
		if err == nil {
			return true
		}
		r.cfg.Log.Error("rewind failed; retrying", "projection", r.cfg.Projection.Name(), "err", err)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

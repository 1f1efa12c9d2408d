package projector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/projections"
)

// Defaults of RebuilderConfig.
const (
	// DefaultReplayMaxBatch bounds the records a replay applies in one
	// transaction.
	DefaultReplayMaxBatch = 2 * DefaultMaxBatch
	// DefaultSwitchLag is how far behind the log end (in records) a
	// replay may be when Rebuild stops replaying and switches.
	DefaultSwitchLag = 1000
)

// RebuilderConfig configures a Rebuilder. NewRebuilder applies the
// defaults and validates it; Rebuild and Verify never change it.
type RebuilderConfig struct {
	// Pool holds the read model. Required.
	Pool *pgxpool.Pool
	// Client is the cluster and the options every client shares. Required.
	Client kafkalog.ClientConfig
	// Projection must have no effect outside its tables: a replay applies
	// every event again, so a hook that notifies the outside (webhooks)
	// would notify twice. Required.
	Projection projections.Projection
	// Log receives progress and warnings. Default: slog.Default().
	Log *slog.Logger
	// Progress is called about once a second while the log is replayed,
	// and once at the end of each phase. Default: nothing is called.
	Progress func(Progress)
	// MaxBatch bounds the records applied in one transaction.
	// Default: DefaultReplayMaxBatch.
	MaxBatch int
	// SwitchLag is how far behind the log end (in records) the replay may
	// be when Rebuild stops replaying and switches; the rest is applied
	// while the projector waits. Default: DefaultSwitchLag.
	SwitchLag int64
	// StallTimeout is how long a replay or catch-up waits without a
	// single record while records it needs are still missing, before it
	// fails with a StallError saying what it waited for.
	// Default: DefaultStallTimeout.
	StallTimeout time.Duration
}

func (c *RebuilderConfig) setDefaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Progress == nil {
		c.Progress = func(Progress) {}
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultReplayMaxBatch
	}
	if c.SwitchLag == 0 {
		c.SwitchLag = DefaultSwitchLag
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
}

// Validate reports a config no rebuild can run with.
func (c RebuilderConfig) Validate() error {
	if err := c.Client.Validate(); err != nil {
		return err
	}
	switch {
	case c.Pool == nil:
		return errors.New("rebuilder: no database pool")
	case c.Projection == nil:
		return errors.New("rebuilder: no projection")
	case c.MaxBatch < 0:
		return fmt.Errorf("rebuilder %s: negative max batch %d", c.Projection.Name(), c.MaxBatch)
	case c.SwitchLag < 0:
		return fmt.Errorf("rebuilder %s: negative switch lag %d", c.Projection.Name(), c.SwitchLag)
	case c.StallTimeout < 0:
		return fmt.Errorf("rebuilder %s: negative stall timeout %s", c.Projection.Name(), c.StallTimeout)
	}
	return nil
}

// Rebuilder replays the log into a fresh generation of a projection's
// tables. Rebuild then makes it the live one; Verify compares it with the
// live one and throws it away. Both run beside a live projector: readers
// and the projector only wait for the moment of the switch.
type Rebuilder struct {
	cfg RebuilderConfig

	// verifying makes a replay count the events it cannot apply instead of
	// parking them: the scratch copy of Verify is thrown away, and the
	// live projector parks (or parked) them itself.
	verifying bool
	skipped   atomic.Int64
}

// DefaultStallTimeout is RebuilderConfig.StallTimeout's default. A broker that
// has the records hands them over in milliseconds; half a minute without
// one is not slowness.
const DefaultStallTimeout = 30 * time.Second

// StallError is a replay that stopped receiving records before it had
// read all it needed: records the broker reports (end offsets, or the
// live projector's position) that a read_committed consumer does not get,
// such as those of a transaction left open, or a log that lost them.
type StallError struct {
	Phase   string // as in Progress
	Waited  time.Duration
	Waiting []PartitionWait
}

// PartitionWait is one partition a stalled replay was waiting on: it had
// read up to Position and needed records up to Target (exclusive).
type PartitionWait struct {
	Topic            string
	Partition        int32
	Position, Target int64
}

func (e *StallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s stalled: no record arrived for %s while waiting for", e.Phase, e.Waited.Round(time.Second))
	for i, w := range e.Waiting {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s/%d from offset %d up to %d (%d offsets)", w.Topic, w.Partition, w.Position, w.Target, w.Target-w.Position)
	}
	b.WriteString(". The broker lists records there that a read_committed consumer does not receive (a transaction left open, or a damaged log)")
	return b.String()
}

// stallOf lists the partitions where pos is short of target.
func stallOf(phase string, waited time.Duration, pos, target position) *StallError {
	e := &StallError{Phase: phase, Waited: waited}
	for t, ps := range target {
		for p, to := range ps {
			if at, _ := pos.get(t, p); at < to {
				e.Waiting = append(e.Waiting, PartitionWait{Topic: t, Partition: p, Position: at, Target: to})
			}
		}
	}
	slices.SortFunc(e.Waiting, func(a, b PartitionWait) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return e
}

// NewRebuilder applies cfg's defaults, validates it and returns the
// rebuilder.
func NewRebuilder(cfg RebuilderConfig) (*Rebuilder, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Rebuilder{cfg: cfg}, nil
}

// Progress reports a replay.
type Progress struct {
	Phase string // "replay" (or "replay TOPIC"), "catch-up", "compare"
	// Events applied so far, and the estimated total: events applied plus
	// the offsets still to read (transaction markers take offsets too, so
	// the estimate shrinks a little as they pass).
	Done, Total int64
	Rate        float64 // events per second since the replay began
	ETA         time.Duration
	Elapsed     time.Duration
}

// RebuildResult says what a rebuild made live.
type RebuildResult struct {
	Schema     string
	Generation int
	Events     int64
	Took       time.Duration
	// Replayed and Replay are the events and time of the replay alone,
	// before the catch-up, the switch and dropping the old generation.
	Replayed int64
	Replay   time.Duration
}

// generation is where a projection's live tables are.
type generation struct {
	schema string
	number int
	tables []string // besides projection_offsets
}

// Rebuild replays the whole log into a new generation, catches it up to
// the live projector's position with the projector held off, and switches
// readers and the projector to it in one transaction. The old generation
// is dropped afterwards.
func (b *Rebuilder) Rebuild(ctx context.Context) (RebuildResult, error) {
	start := time.Now()
	release, err := b.exclusiveRun(ctx)
	if err != nil {
		return RebuildResult{}, err
	}
	defer release()
	live, err := b.liveGeneration(ctx)
	if err != nil {
		return RebuildResult{}, err
	}
	next := generation{schema: "rm_" + b.cfg.Projection.Name() + "_" + strconv.Itoa(live.number+1), number: live.number + 1, tables: live.tables}
	if err := b.createGeneration(ctx, live, next.schema); err != nil {
		return RebuildResult{}, err
	}
	switched := false
	defer func() {
		if !switched {
			b.dropSchema(next.schema)
		}
	}()
	// One topic after the other: a campaign's rows are all written (from
	// the organisation topic) before its outcomes update them, and the
	// outcome partitions, which hold nearly all events, then share no
	// campaign with each other, so the writers never wait on each other.
	// Each topic but the last is replayed to the end it has when its turn
	// comes; the last one to within SwitchLag of its moving end.
	var events int64
	replayStart := time.Now()
	topics := kafkalog.TopicsOf(b.cfg.Projection.Streams())
	for i, t := range topics {
		n, err := b.replay(ctx, next.schema, nil, i < len(topics)-1, t)
		if err != nil {
			return RebuildResult{}, err
		}
		events += n
	}
	replayed, replayTook := events, time.Since(replayStart)

	tx, schema, err := beginWrite(ctx, b.cfg.Pool, b.cfg.Projection.Name(), exclusive)
	if err != nil {
		return RebuildResult{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if schema != live.schema {
		return RebuildResult{}, fmt.Errorf("the live generation moved to %s during the rebuild", schema)
	}
	n, err := b.catchUp(ctx, tx, live.schema, next.schema)
	if err != nil {
		return RebuildResult{}, err
	}
	events += n
	if _, err := tx.Exec(ctx, `UPDATE read_models SET schema_name = $2, generation = $3, switched_at = now() WHERE name = $1`,
		b.cfg.Projection.Name(), next.schema, next.number); err != nil {
		return RebuildResult{}, err
	}
	for _, t := range next.tables {
		if _, err := tx.Exec(ctx, `CREATE OR REPLACE VIEW `+pgx.Identifier{"public", t}.Sanitize()+
			` AS SELECT * FROM `+pgx.Identifier{next.schema, t}.Sanitize()); err != nil {
			return RebuildResult{}, fmt.Errorf("switch view %s: %w", t, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return RebuildResult{}, err
	}
	switched = true
	b.cfg.Log.Info("read model switched", "projection", b.cfg.Projection.Name(), "from", live.schema, "to", next.schema, "events", events)
	b.dropSchema(live.schema)
	return RebuildResult{Schema: next.schema, Generation: next.number, Events: events, Took: time.Since(start),
		Replayed: replayed, Replay: replayTook}, nil
}

// exclusiveRun keeps two rebuilds (or verifies) of one projection from
// running at once: they would fight over the same scratch schema.
func (b *Rebuilder) exclusiveRun(ctx context.Context) (func(), error) {
	conn, err := b.cfg.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, lockClass+1, b.cfg.Projection.Name()).Scan(&ok); err != nil {
		conn.Release()
		return nil, err
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("a rebuild or verify of %s is already running", b.cfg.Projection.Name())
	}
	return func() {
		conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, hashtext($2))`, lockClass+1, b.cfg.Projection.Name()) //nolint:errcheck
		conn.Release()
	}, nil
}

func (b *Rebuilder) liveGeneration(ctx context.Context) (generation, error) {
	var g generation
	err := b.cfg.Pool.QueryRow(ctx, `SELECT schema_name, generation FROM read_models WHERE name = $1`, b.cfg.Projection.Name()).Scan(&g.schema, &g.number)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, fmt.Errorf("projection %s keeps its tables in public, not in generations; it cannot be rebuilt", b.cfg.Projection.Name())
	}
	if err != nil {
		return g, err
	}
	rows, err := b.cfg.Pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename <> 'projection_offsets' ORDER BY tablename`, g.schema)
	if err != nil {
		return g, err
	}
	g.tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return g, err
	}
	if len(g.tables) == 0 {
		return g, fmt.Errorf("live generation %s of %s has no tables", g.schema, b.cfg.Projection.Name())
	}
	return g, nil
}

// createGeneration makes an empty copy of the live generation's tables
// (columns, defaults, constraints and indexes, whatever migrations made of
// them) in a new schema, replacing a leftover of an interrupted run.
func (b *Rebuilder) createGeneration(ctx context.Context, live generation, schema string) error {
	if schema == live.schema {
		return fmt.Errorf("refusing to replace the live generation %s", schema)
	}
	tx, err := b.cfg.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	s := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+s+` CASCADE`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+s); err != nil {
		return err
	}
	for _, t := range append([]string{"projection_offsets"}, live.tables...) {
		if _, err := tx.Exec(ctx, `CREATE TABLE `+pgx.Identifier{schema, t}.Sanitize()+
			` (LIKE `+pgx.Identifier{live.schema, t}.Sanitize()+` INCLUDING ALL)`); err != nil {
			return fmt.Errorf("copy table %s: %w", t, err)
		}
		// LIKE copies columns and indexes but not storage parameters
		// (the fillfactor that keeps message updates heap-only).
		var opts []string
		if err := tx.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass`,
			pgx.Identifier{live.schema, t}.Sanitize()).Scan(&opts); err != nil {
			return fmt.Errorf("storage parameters of %s: %w", t, err)
		}
		if len(opts) > 0 {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{schema, t}.Sanitize()+` SET (`+strings.Join(opts, ", ")+`)`); err != nil {
				return fmt.Errorf("storage parameters of %s: %w", t, err)
			}
		}
	}
	return tx.Commit(ctx)
}

func (b *Rebuilder) dropSchema(schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.cfg.Pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		b.cfg.Log.Error("drop schema", "schema", schema, "err", err)
	}
}

// replay applies the log from the beginning into schema, of the topics
// named in only or else all the projection's. With limit set it applies
// each partition up to that offset and no further; with toEnd, up to the
// end each partition has when the replay starts; otherwise it follows the
// log end and returns once it is within SwitchLag of it.
func (b *Rebuilder) replay(ctx context.Context, schema string, limit position, toEnd bool, only ...string) (int64, error) {
	name := b.cfg.Projection.Name()
	topics := kafkalog.TopicsOf(b.cfg.Projection.Streams())
	phase := "replay"
	if len(only) > 0 {
		topics = only
		phase = "replay " + strings.Join(only, ", ")
	}
	cl, err := kafkalog.Client(b.cfg.Client)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("list start offsets: %w", err)
	}
	scanned := position{} // next offset to look at, markers included
	consume := map[string]map[int32]kgo.Offset{}
	starts.Each(func(o kadm.ListedOffset) {
		scanned.set(o.Topic, o.Partition, o.Offset)
		if limit != nil {
			if to, _ := limit.get(o.Topic, o.Partition); to <= o.Offset {
				return
			}
		}
		if consume[o.Topic] == nil {
			consume[o.Topic] = map[int32]kgo.Offset{}
		}
		consume[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	ends := position{}
	listEnds := func() error {
		if limit != nil {
			ends = limit
			return nil
		}
		lo, err := adm.ListEndOffsets(ctx, topics...)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			return fmt.Errorf("list end offsets: %w", err)
		}
		lo.Each(func(o kadm.ListedOffset) { ends.set(o.Topic, o.Partition, o.Offset) })
		return nil
	}
	if err := listEnds(); err != nil {
		return 0, err
	}
	if toEnd {
		limit = ends
	}
	lag := func() int64 {
		var n int64
		for t, ps := range ends {
			for p, end := range ps {
				if s, _ := scanned.get(t, p); end > s {
					n += end - s
				}
			}
		}
		return n
	}
	threshold := b.cfg.SwitchLag
	if limit != nil {
		threshold = 0
	}

	rc, err := kafkalog.Client(b.cfg.Client,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumePartitions(consume),
	)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	maxBatch := b.cfg.MaxBatch
	began := time.Now()
	var events int64
	lastReport, lastList, lastRecord := time.Time{}, time.Now(), time.Now()
	report := func(final bool) {
		if !final && time.Since(lastReport) < time.Second {
			return
		}
		lastReport = time.Now()
		b.cfg.Progress(progressOf(phase, events, lag(), time.Since(began)))
	}
	for lag() > threshold {
		report(false)
		if waited := time.Since(lastRecord); waited > b.cfg.StallTimeout {
			return events, stallOf(phase, waited, scanned, ends)
		}
		if limit == nil && time.Since(lastList) > 500*time.Millisecond {
			if err := listEnds(); err != nil {
				return events, err
			}
			lastList = time.Now()
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := rc.PollRecords(pctx, maxBatch)
		cancel()
		if err := ctx.Err(); err != nil {
			return events, err
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			return events, fetchErr
		}
		var recs []*kgo.Record
		applied := position{}
		if fs.NumRecords() > 0 {
			lastRecord = time.Now()
		}
		fs.EachRecord(func(r *kgo.Record) {
			if limit != nil {
				if to, _ := limit.get(r.Topic, r.Partition); r.Offset >= to {
					return
				}
			}
			if s, _ := scanned.get(r.Topic, r.Partition); r.Offset+1 > s {
				scanned.set(r.Topic, r.Partition, r.Offset+1)
			}
			if r.Attrs.IsControl() {
				return
			}
			recs = append(recs, r)
			applied.set(r.Topic, r.Partition, r.Offset+1)
		})
		if len(recs) == 0 {
			continue
		}
		if err := b.applyReplayed(ctx, schema, recs, applied); err != nil {
			return events, fmt.Errorf("%s: replay into %s: %w", name, schema, err)
		}
		events += int64(len(recs))
	}
	report(true)
	return events, nil
}

// replayWriters is how many transactions apply a polled batch of a
// ByCampaign projection at once during the replay.
const replayWriters = 4

// applyReplayed applies a polled batch of the replay. A ByCampaign projection's batch
// is split by campaign over replayWriters transactions at once: while one waits
// on PostgreSQL another decodes, and PostgreSQL works in several backends.
// No transaction then holds a prefix of a partition, so the offsets are
// stored after all have committed. That is sound because a replay that
// fails midway leaves a generation that is never used (Rebuild and Verify
// drop it, and a new run replaces it): only the end state has to be a fold
// of the log, and it is. Other projections apply the batch in one
// transaction with its offsets.
func (b *Rebuilder) applyReplayed(ctx context.Context, schema string, recs []*kgo.Record, next position) error {
	if _, ok := b.cfg.Projection.(projections.ByCampaign); !ok {
		return b.applyTo(ctx, schema, recs, next)
	}
	shares := make([][]*kgo.Record, replayWriters)
	for _, r := range recs {
		h := fnv.New32a()
		h.Write(kafkalog.CampaignHeader(r))
		w := h.Sum32() % replayWriters
		shares[w] = append(shares[w], r)
	}
	errs := make([]error, replayWriters)
	var wg sync.WaitGroup
	for i, share := range shares {
		if len(share) > 0 {
			wg.Go(func() { errs[i] = b.applyTo(ctx, schema, share, nil) })
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return b.applyTo(ctx, schema, nil, next)
}

// applyTo applies records to a generation that only this process writes,
// with the offsets they reach.
func (b *Rebuilder) applyTo(ctx context.Context, schema string, recs []*kgo.Record, next position) error {
	tx, err := b.cfg.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := b.applyInTx(ctx, tx, schema, recs, next); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (b *Rebuilder) applyInTx(ctx context.Context, tx pgx.Tx, schema string, recs []*kgo.Record, next position) error {
	if err := setSearchPath(ctx, tx, schema); err != nil {
		return err
	}
	if len(recs) > 0 {
		// Events the live projector cannot apply are parked by the replay
		// too (parking.go), so a rebuilt read model skips the same ones.
		park := parkIn(b.cfg.Projection.Name(), nil)
		if b.verifying {
			park = func(context.Context, pgx.Tx, *kgo.Record, error) error {
				b.skipped.Add(1)
				return nil
			}
		}
		if err := applyIsolating(ctx, tx, b.cfg.Projection, recs, park); err != nil {
			return err
		}
	}
	batch := &pgx.Batch{}
	for t, ps := range next {
		for p, o := range ps {
			batch.Queue(`INSERT INTO `+offsetsTable(schema)+` (projection, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
				ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset`,
				b.cfg.Projection.Name(), t, p, o)
		}
	}
	if batch.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, batch).Close()
}

// catchUp brings generation to the live generation's position, in tx,
// which holds the projection's writers off: the live position cannot move
// meanwhile. A partition where the new generation is ahead stays ahead;
// the live projector's offset guard notices and it resumes from there.
func (b *Rebuilder) catchUp(ctx context.Context, tx pgx.Tx, live, schema string) (int64, error) {
	name := b.cfg.Projection.Name()
	want, err := readPosition(ctx, tx, live, name)
	if err != nil {
		return 0, err
	}
	have, err := readPosition(ctx, tx, schema, name)
	if err != nil {
		return 0, err
	}
	ranges := map[string]map[int32][2]int64{}
	for t, ps := range want {
		for p, to := range ps {
			from, _ := have.get(t, p)
			if from < to {
				if ranges[t] == nil {
					ranges[t] = map[int32][2]int64{}
				}
				ranges[t][p] = [2]int64{from, to}
			}
		}
	}
	if len(ranges) == 0 {
		return 0, nil
	}
	began := time.Now()
	var events int64
	err = readRanges(ctx, b.cfg.Client, b.cfg.StallTimeout, ranges, func(recs []*kgo.Record) error {
		next := position{}
		for _, r := range recs {
			next.set(r.Topic, r.Partition, r.Offset+1)
		}
		events += int64(len(recs))
		return b.applyInTx(ctx, tx, schema, recs, next)
	})
	if err == nil {
		b.cfg.Progress(progressOf("catch-up", events, 0, time.Since(began)))
	}
	return events, err
}

// readRanges calls fn with the committed records of each partition in
// [from, to), in batches. The record at to-1 must be a committed one (a
// stored projection offset always follows one), which is how the read
// knows a partition is done. When no record arrives for stall while some
// are missing, it fails with a StallError.
func readRanges(ctx context.Context, cc kafkalog.ClientConfig, stall time.Duration, ranges map[string]map[int32][2]int64, fn func([]*kgo.Record) error) error {
	consume := map[string]map[int32]kgo.Offset{}
	pos, target := position{}, position{}
	left := 0
	for t, ps := range ranges {
		consume[t] = map[int32]kgo.Offset{}
		for p, r := range ps {
			consume[t][p] = kgo.NewOffset().At(r[0])
			pos.set(t, p, r[0])
			target.set(t, p, r[1])
			left++
		}
	}
	cl, err := kafkalog.Client(cc,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(consume),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	done := map[string]map[int32]bool{}
	lastRecord := time.Now()
	for left > 0 {
		if waited := time.Since(lastRecord); waited > stall {
			return stallOf("catch-up", waited, pos, target)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			lastRecord = time.Now()
			to := ranges[r.Topic][r.Partition][1]
			if done[r.Topic][r.Partition] || r.Offset >= to {
				return
			}
			pos.set(r.Topic, r.Partition, r.Offset+1)
			recs = append(recs, r)
			if r.Offset == to-1 {
				if done[r.Topic] == nil {
					done[r.Topic] = map[int32]bool{}
				}
				done[r.Topic][r.Partition] = true
				left--
			}
		})
		if len(recs) > 0 {
			if err := fn(recs); err != nil {
				return err
			}
		}
	}
	return nil
}

func progressOf(phase string, done, left int64, elapsed time.Duration) Progress {
	p := Progress{Phase: phase, Done: done, Total: done + left, Elapsed: elapsed}
	if s := elapsed.Seconds(); s > 0 {
		p.Rate = float64(done) / s
	}
	if p.Rate > 0 {
		p.ETA = time.Duration(float64(left) / p.Rate * float64(time.Second))
	}
	return p
}

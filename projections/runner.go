// Package projections builds Postgres read models from the event log.
// Offsets live in Postgres next to the rows, written in one transaction, so
// a read model is exactly the fold of a prefix of the log.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Projection applies a batch of records inside a Postgres transaction.
type Projection interface {
	Name() string
	Topics() []string
	Apply(ctx context.Context, tx pgx.Tx, recs []*kgo.Record) error
}

// Runner feeds a projection from Kafka.
type Runner struct {
	Brokers    []string
	Pool       *pgxpool.Pool
	Projection Projection
	Log        *slog.Logger
	ClientOpts []kgo.Opt

	// expected is the next offset this instance believes Postgres holds
	// for each partition; the guarded update fails if another instance
	// wrote since, which means this one lost the partition.
	expected map[string]map[int32]int64
	assigned map[string]map[int32]bool
}

// Run consumes until ctx is done.
func (r *Runner) Run(ctx context.Context) error {
	if r.Log == nil {
		r.Log = slog.Default()
	}
	r.expected = map[string]map[int32]int64{}
	r.assigned = map[string]map[int32]bool{}
	name := r.Projection.Name()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(r.Brokers...),
		kgo.ConsumerGroup("ziett.projection." + name),
		kgo.ConsumeTopics(r.Projection.Topics()...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(r.loadOffsets),
		kgo.OnPartitionsRevoked(r.drop),
		kgo.OnPartitionsLost(r.drop),
	}, r.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.CloseAllowingRebalance()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				return nil
			}
			r.Log.Warn("fetch error", "projection", name, "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
		}
		if fs.NumRecords() > 0 {
			if err := r.applyBatch(ctx, fs); err != nil {
				if ctx.Err() != nil {
					cl.AllowRebalance()
					return nil
				}
				r.Log.Error("projection batch failed; rewinding", "projection", name, "err", err)
				r.rewind(ctx, cl)
				time.Sleep(200 * time.Millisecond)
			}
		}
		cl.AllowRebalance()
	}
}

func (r *Runner) applyBatch(ctx context.Context, fs kgo.Fetches) error {
	tx, err := r.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if err := r.Projection.Apply(ctx, tx, fs.Records()); err != nil {
		return err
	}
	next := map[string]map[int32]int64{}
	var guardErr error
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 || guardErr != nil {
			return
		}
		last := p.Records[len(p.Records)-1].Offset + 1
		exp, known := r.expected[p.Topic][p.Partition]
		var tag interface{ RowsAffected() int64 }
		var err error
		if known {
			tag, err = tx.Exec(ctx, `UPDATE projection_offsets SET next_offset = $4
				WHERE projection = $1 AND topic = $2 AND partition = $3 AND next_offset = $5`,
				r.Projection.Name(), p.Topic, p.Partition, last, exp)
		} else {
			tag, err = tx.Exec(ctx, `INSERT INTO projection_offsets (projection, topic, partition, next_offset)
				VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, r.Projection.Name(), p.Topic, p.Partition, last)
		}
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("offset guard: %s/%d moved under us (partition lost)", p.Topic, p.Partition)
		}
		guardErr = err
		if next[p.Topic] == nil {
			next[p.Topic] = map[int32]int64{}
		}
		next[p.Topic][p.Partition] = last
	})
	if guardErr != nil {
		return guardErr
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for t, ps := range next {
		if r.expected[t] == nil {
			r.expected[t] = map[int32]int64{}
		}
		for p, o := range ps {
			r.expected[t][p] = o
		}
	}
	return nil
}

// loadOffsets replaces the group's (unused) Kafka offsets with the ones
// stored beside the rows.
func (r *Runner) loadOffsets(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	out := map[string]map[int32]kgo.Offset{}
	for t, ps := range assigned {
		out[t] = map[int32]kgo.Offset{}
		if r.expected[t] == nil {
			r.expected[t] = map[int32]int64{}
			r.assigned[t] = map[int32]bool{}
		}
		for p := range ps {
			r.assigned[t][p] = true
			var next int64
			err := r.Pool.QueryRow(ctx, `SELECT next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2 AND partition = $3`,
				r.Projection.Name(), t, p).Scan(&next)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				delete(r.expected[t], p)
				out[t][p] = kgo.NewOffset().AtStart()
			case err != nil:
				return nil, err
			default:
				r.expected[t][p] = next
				out[t][p] = kgo.NewOffset().At(next).WithEpoch(-1)
			}
		}
	}
	return out, nil
}

func (r *Runner) drop(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	for t, ps := range m {
		for _, p := range ps {
			delete(r.expected[t], p)
			delete(r.assigned[t], p)
		}
	}
}

// rewind moves every assigned partition back to the offsets in Postgres
// after a failed batch, so nothing is skipped.
func (r *Runner) rewind(ctx context.Context, cl *kgo.Client) {
	assigned := map[string]map[int32]kgo.Offset{}
	for t, ps := range r.assigned {
		assigned[t] = map[int32]kgo.Offset{}
		for p := range ps {
			assigned[t][p] = kgo.Offset{}
		}
	}
	offs, err := r.loadOffsets(ctx, assigned)
	if err != nil {
		r.Log.Error("reload offsets", "err", err)
		return
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	for t, ps := range offs {
		set[t] = map[int32]kgo.EpochOffset{}
		for p := range ps {
			o, ok := r.expected[t][p]
			if !ok {
				o = 0
			}
			set[t][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
	}
	cl.SetOffsets(set)
}

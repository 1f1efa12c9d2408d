package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Stage is a step of the pipeline that turns consumed records into produced
// records. Its state, if any, must be a pure fold of the records of the
// partitions it owns: that is what lets a new owner rebuild it.
type Stage interface {
	// Fold applies a record that an earlier owner already handled (its
	// outputs are in the log), to rebuild state. It must not produce.
	Fold(r *kgo.Record)
	// Handle processes new records of one partition, in order, calling
	// emit for each output. Outputs and the consumed offsets commit in one
	// transaction, or not at all.
	Handle(ctx context.Context, recs []*kgo.Record, emit func(*kgo.Record)) error
	// Forget drops the state of a partition, which is rebuilt before its
	// next record is handled.
	Forget(topic string, partition int32)
}

// TxLoop runs a Stage in a consumer group with Kafka transactions
// (read-process-write exactly once).
type TxLoop struct {
	Brokers []string
	Group   string
	Topics  []string
	Stage   Stage
	// Stateless skips the rebuild for stages that keep no state.
	Stateless bool
	Log       *slog.Logger
	// ClientOpts are appended to the client's options (tests use it for
	// short timeouts).
	ClientOpts []kgo.Opt

	mu    sync.Mutex
	built map[tp]bool
	sess  *kgo.GroupTransactSession
}

type tp struct {
	topic     string
	partition int32
}

// Run consumes until ctx is done. It returns nil on a clean stop.
func (l *TxLoop) Run(ctx context.Context) error {
	if l.Log == nil {
		l.Log = slog.Default()
	}
	l.built = map[tp]bool{}
	forget := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for t, ps := range m {
			for _, p := range ps {
				delete(l.built, tp{t, p})
				l.Stage.Forget(t, p)
			}
		}
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(l.Brokers...),
		kgo.ConsumerGroup(l.Group),
		kgo.ConsumeTopics(l.Topics...),
		// A transactional id per process: KIP-447 fences zombies through
		// the group generation, so the id need not be stable.
		kgo.TransactionalID(l.Group + "-" + uuid.NewString()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.OnPartitionsRevoked(forget),
		kgo.OnPartitionsLost(forget),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Rebalances happen only between transactions, so Forget never
		// races Handle.
		kgo.BlockRebalanceOnPoll(),
	}, l.ClientOpts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return err
	}
	l.sess = sess
	defer sess.CloseAllowingRebalance()

	backoff := 100 * time.Millisecond
	for {
		fetches := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			for _, fe := range errs {
				if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, kgo.ErrClientClosed) {
					return nil
				}
				l.Log.Warn("fetch error", "group", l.Group, "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
			}
			sess.AllowRebalance()
			continue
		}
		if fetches.NumRecords() == 0 {
			sess.AllowRebalance()
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("%s: begin transaction: %w", l.Group, err)
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
			handleErr = l.Stage.Handle(ctx, p.Records, emit)
		})
		// End must not see a canceled context mid-commit: that would leave
		// the transaction in an unknown state. Shutdown waits for it.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		commit := kgo.TransactionEndTry(handleErr == nil)
		committed, err := sess.End(endCtx, commit)
		cancel()
		sess.AllowRebalance()
		if err != nil {
			return fmt.Errorf("%s: end transaction: %w", l.Group, err)
		}
		perrMu.Lock()
		pe := produceErr
		perrMu.Unlock()
		if !committed || pe != nil {
			// The session rewound to the last committed offsets; state that
			// absorbed the aborted records must be rebuilt.
			l.forgetAll()
			if handleErr != nil {
				l.Log.Warn("transaction aborted", "group", l.Group, "err", handleErr)
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
	}
}

func (l *TxLoop) forgetAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.built {
		delete(l.built, k)
		l.Stage.Forget(k.topic, k.partition)
	}
}

// ensureBuilt rebuilds a partition's state before its first record is
// handled. The first offset fetched after an assignment is the committed
// position, so folding every committed record before it reproduces exactly
// the state the previous owner had when it committed.
func (l *TxLoop) ensureBuilt(ctx context.Context, topic string, partition int32, upTo int64) error {
	l.mu.Lock()
	done := l.built[tp{topic, partition}]
	l.mu.Unlock()
	if done || l.Stateless {
		l.mu.Lock()
		l.built[tp{topic, partition}] = true
		l.mu.Unlock()
		return nil
	}
	start := time.Now()
	n, err := ReadPartition(ctx, l.Brokers, topic, partition, 0, upTo, l.Stage.Fold)
	if err != nil {
		return fmt.Errorf("rebuild %s/%d: %w", topic, partition, err)
	}
	l.mu.Lock()
	l.built[tp{topic, partition}] = true
	l.mu.Unlock()
	l.Log.Info("state rebuilt", "group", l.Group, "topic", topic, "partition", partition,
		"records", n, "up_to", upTo, "took", time.Since(start).String())
	return nil
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
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
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

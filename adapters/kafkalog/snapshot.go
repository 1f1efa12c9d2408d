package kafkalog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Snapshotter is a Stage whose per-partition state can be saved and
// loaded. A loop that owns a partition writes the state to a compacted
// snapshot topic inside the same transaction as the outputs and consumed
// offsets it covers, so a snapshot is visible exactly when the offsets it
// claims to cover are committed. A new owner then loads the latest snapshot
// and folds only the records after it, instead of the whole partition.
type Snapshotter interface {
	// Snapshot encodes the state of a partition as it stands after the
	// records handled so far.
	Snapshot(topic string, partition int32) (json.RawMessage, error)
	// Restore replaces the state of a partition with a snapshot's.
	Restore(topic string, partition int32, state json.RawMessage) error
}

// SnapshotPolicy says where and how often a loop snapshots its state. A
// partition's state is written after a transaction that brings it Every
// records, or Interval time, past its previous snapshot.
type SnapshotPolicy struct {
	// Topic is a compacted topic with at least as many partitions as the
	// consumed topics: partition p's snapshot lives in partition p, keyed
	// by "<topic>/<p>", so the latest one sits at the partition's end.
	Topic    string
	Every    int
	Interval time.Duration
}

// snapshotMaxBytes bounds one snapshot record. A state that outgrows it
// is not snapshotted (the rebuild falls back to the whole log, slower but
// still correct) rather than failing the transaction that carries it.
const snapshotMaxBytes = 15 << 20

// SnapshotRecord is the value of a record on a snapshot topic.
type SnapshotRecord struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// NextOffset is the first offset the state does not include: the
	// consumed offset committed by the transaction that wrote it.
	NextOffset int64           `json:"next_offset"`
	TakenAt    time.Time       `json:"taken_at"`
	State      json.RawMessage `json:"state"`
}

type snapProgress struct {
	since int // records folded or handled since the last snapshot
	at    time.Time
}

func snapshotKey(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}

func (l *TxLoop) snapshotsWanted() bool {
	_, ok := l.cfg.Stage.(Snapshotter)
	return ok && !l.cfg.Stateless && l.cfg.Snapshots.Topic != ""
}

// snapshotPartitions reads the snapshot topic's partition count once at
// start; a missing topic disables snapshots rather than failing every
// transaction that would carry one.
func (l *TxLoop) snapshotPartitions(ctx context.Context, cl *kgo.Client) int32 {
	tds, err := kadm.NewClient(cl).ListTopics(ctx, l.cfg.Snapshots.Topic)
	if err == nil {
		err = tds.Error()
	}
	if err != nil || len(tds[l.cfg.Snapshots.Topic].Partitions) == 0 {
		l.cfg.Log.Warn("snapshots disabled: cannot describe the snapshot topic", "group", l.cfg.Group, "topic", l.cfg.Snapshots.Topic, "err", err)
		return 0
	}
	return int32(len(tds[l.cfg.Snapshots.Topic].Partitions))
}

// maybeSnapshot emits the partition's state into the open transaction when
// it is due. next is the offset the transaction will commit for the
// partition.
func (l *TxLoop) maybeSnapshot(topic string, partition int32, handled int, next int64, emit func(*kgo.Record)) {
	if l.snapParts == 0 || partition >= l.snapParts {
		return
	}
	k := tp{topic, partition}
	l.mu.Lock()
	p := l.progress[k]
	if p == nil {
		p = &snapProgress{at: time.Now()}
		l.progress[k] = p
	}
	p.since += handled
	due := (l.cfg.Snapshots.Every > 0 && p.since >= l.cfg.Snapshots.Every) ||
		(l.cfg.Snapshots.Interval > 0 && time.Since(p.at) >= l.cfg.Snapshots.Interval)
	l.mu.Unlock()
	if !due {
		return
	}
	state, err := l.cfg.Stage.(Snapshotter).Snapshot(topic, partition)
	if err != nil {
		l.cfg.Log.Warn("snapshot skipped", "group", l.cfg.Group, "topic", topic, "partition", partition, "err", err)
		return
	}
	v, err := json.Marshal(SnapshotRecord{Topic: topic, Partition: partition, NextOffset: next, TakenAt: time.Now().UTC(), State: state})
	if err != nil {
		l.cfg.Log.Warn("snapshot skipped", "group", l.cfg.Group, "topic", topic, "partition", partition, "err", err)
		return
	}
	if len(v) > snapshotMaxBytes {
		l.cfg.Log.Warn("snapshot skipped: state too large", "group", l.cfg.Group, "topic", topic, "partition", partition, "bytes", len(v))
		return
	}
	emit(&kgo.Record{Topic: l.cfg.Snapshots.Topic, Partition: partition, Key: []byte(snapshotKey(topic, partition)), Value: v,
		Headers: []kgo.RecordHeader{{Key: hContentType, Value: []byte("application/json")}}})
	l.mu.Lock()
	p.since, p.at = 0, time.Now()
	l.mu.Unlock()
}

// restore loads the latest snapshot of a partition into the stage and
// returns the offset the fold continues from (0 without a usable one).
func (l *TxLoop) restore(ctx context.Context, topic string, partition int32, upTo int64) (int64, bool) {
	if l.snapParts == 0 || partition >= l.snapParts {
		return 0, false
	}
	s, err := LatestSnapshot(ctx, l.cfg.Client.Brokers, l.cfg.Snapshots.Topic, topic, partition)
	switch {
	case err != nil:
		l.cfg.Log.Warn("snapshot unreadable; rebuilding from the start", "group", l.cfg.Group, "topic", topic, "partition", partition, "err", err)
		return 0, false
	case s == nil:
		return 0, false
	case s.NextOffset > upTo:
		// Only possible if the group's offsets were moved back by hand:
		// the snapshot is from a future the group no longer shares.
		l.cfg.Log.Warn("snapshot ahead of committed offset; rebuilding from the start", "group", l.cfg.Group,
			"topic", topic, "partition", partition, "snapshot", s.NextOffset, "committed", upTo)
		return 0, false
	}
	if err := l.cfg.Stage.(Snapshotter).Restore(topic, partition, s.State); err != nil {
		l.cfg.Stage.Forget(topic, partition)
		l.cfg.Log.Warn("snapshot not restorable; rebuilding from the start", "group", l.cfg.Group, "topic", topic, "partition", partition, "err", err)
		return 0, false
	}
	return s.NextOffset, true
}

// LatestSnapshot finds the newest committed snapshot of topic/partition in
// snapshotTopic, or nil if there is none. Each snapshot partition holds
// the snapshots of one source partition, so the newest is at its end: the
// search reads backwards in growing windows from the last stable offset
// and normally finds it in the first.
func LatestSnapshot(ctx context.Context, brokers []string, snapshotTopic, topic string, partition int32) (*SnapshotRecord, error) {
	cl, err := Client(ClientConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, snapshotTopic)
	cl.Close()
	if err != nil {
		return nil, err
	}
	lo, ok := ends.Lookup(snapshotTopic, partition)
	if !ok {
		return nil, fmt.Errorf("snapshot topic %s has no partition %d", snapshotTopic, partition)
	}
	if lo.Err != nil {
		return nil, lo.Err
	}
	key := snapshotKey(topic, partition)
	end := lo.Offset
	for window := int64(16); end > 0; window *= 4 {
		from := max(0, end-window)
		var last *kgo.Record
		if _, err := ReadPartition(ctx, brokers, snapshotTopic, partition, from, end, func(r *kgo.Record) {
			if string(r.Key) == key {
				last = r
			}
		}); err != nil {
			return nil, err
		}
		if last != nil {
			var s SnapshotRecord
			if err := json.Unmarshal(last.Value, &s); err != nil {
				return nil, fmt.Errorf("snapshot %s/%d@%d: %w", snapshotTopic, partition, last.Offset, err)
			}
			return &s, nil
		}
		end = from
	}
	return nil, nil
}

// snapshotPartitioner sends snapshot records to the partition they name and
// everything else where franz-go's default partitioner would (murmur2 of
// the key), so outputs keyed by organisation land where the API's appends
// for that organisation do.
type snapshotPartitioner struct{ topic string }

var (
	manualPartitioner  = kgo.ManualPartitioner()
	defaultPartitioner = kgo.UniformBytesPartitioner(64<<10, true, true, nil)
)

func (p snapshotPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.topic {
		return manualPartitioner.ForTopic(t)
	}
	return defaultPartitioner.ForTopic(t)
}

package kafkabroker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Orphan is a transaction that a crash left open in one partition: data
// written by a transactional producer with no commit or abort marker after
// it.
type Orphan struct {
	Topic         string
	Partition     int32
	ProducerID    int64
	ProducerEpoch int16
	// FirstOffset is the transaction's first record in the partition.
	FirstOffset int64
	// Committed is how recovery ended it: committed when the crash came
	// while the broker was writing the transaction's commit markers (some
	// partition has one), else aborted.
	Committed bool
}

// recoverDir opens dir on a private loopback port, where no client can
// reach it, writes an abort marker for every orphaned transaction, and
// closes it cleanly.
func recoverDir(ctx context.Context, dir string, log *logger) ([]Orphan, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.WithLogger(log),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
	)
	if err != nil {
		return nil, err
	}
	log.resetErrors()
	orphans, err := AbortOrphans(ctx, c.ListenAddrs())
	c.Close()
	if err != nil {
		return nil, err
	}
	if err := log.err(); err != nil {
		return nil, err
	}
	// A clean stop saves, per partition, a snapshot of what the broker
	// holds in memory, which the next start prefers to reading the
	// segments. That memory still has the crash's orphans as aborted
	// (the markers written above do not change it), which is wrong for a
	// transaction whose commit recovery completed. Without the snapshots
	// the next start reads the segments, markers included, as after any
	// crash.
	snaps, err := filepath.Glob(filepath.Join(dir, "partitions", "*", "snapshot.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range snaps {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	return orphans, nil
}

// AbortOrphans reads every partition of the cluster at brokers from start
// to end, uncommitted records and transaction markers included, finds the
// transactions that have data but no marker, and ends each with a marker
// (WriteTxnMarkers, as a transaction coordinator does). A transaction is
// one producer id and epoch (the producer's epoch moves on with every
// transaction), so if any partition holds its commit marker, the crash
// interrupted the commit: the other partitions get a commit marker too,
// as a coordinator completes a prepared commit. Every other orphan is
// aborted. Only a cluster no producer is using may be given: a
// transaction in progress looks exactly like an orphan.
func AbortOrphans(ctx context.Context, brokers []string) ([]Orphan, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	if err := tds.Error(); err != nil {
		return nil, err
	}
	if len(tds) == 0 {
		return nil, nil
	}
	starts, err := adm.ListStartOffsets(ctx, tds.Names()...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, tds.Names()...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, err
	}
	orphans, err := scanOpen(ctx, brokers, starts, ends)
	if err != nil || len(orphans) == 0 {
		return orphans, err
	}
	if err := writeAborts(ctx, cl, tds, orphans); err != nil {
		return nil, err
	}
	return orphans, nil
}

// scanStall is how long the recovery read may go without a record.
const scanStall = 30 * time.Second

type partKey struct {
	topic     string
	partition int32
}

type pidEpoch struct {
	id    int64
	epoch int16
}

// scanOpen reads [start, end) of every partition and returns the
// transactions still open at the end.
func scanOpen(ctx context.Context, brokers []string, starts, ends kadm.ListedOffsets) ([]Orphan, error) {
	from := map[string]map[int32]kgo.Offset{}
	last := map[partKey]int64{} // offset of each partition's last record
	starts.Each(func(s kadm.ListedOffset) {
		e, ok := ends.Lookup(s.Topic, s.Partition)
		if !ok || e.Offset <= s.Offset {
			return
		}
		if from[s.Topic] == nil {
			from[s.Topic] = map[int32]kgo.Offset{}
		}
		from[s.Topic][s.Partition] = kgo.NewOffset().At(s.Offset)
		last[partKey{s.Topic, s.Partition}] = e.Offset - 1
	})
	if len(from) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	open := map[partKey]map[int64]*Orphan{}
	committed := map[pidEpoch]bool{}
	for len(last) > 0 {
		// A broker that stops handing out records before the end it
		// reported must not hang the start: give up, naming where.
		pollCtx, cancel := context.WithTimeout(ctx, scanStall)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if pollCtx.Err() != nil && fs.NumRecords() == 0 {
			var at []string
			for k, end := range last {
				at = append(at, fmt.Sprintf("%s/%d (end %d)", k.topic, k.partition, end+1))
			}
			slices.Sort(at)
			return nil, fmt.Errorf("reading the log stalled for %s with partitions unread to their end: %s", scanStall, strings.Join(at, ", "))
		}
		if err := fs.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			k := partKey{r.Topic, r.Partition}
			end, reading := last[k]
			if !reading || r.Offset > end {
				return
			}
			if r.Offset == end {
				delete(last, k)
			}
			switch {
			case r.Attrs.IsControl():
				// A commit or an abort: either ends the producer's
				// transaction in this partition. The key is a version
				// and the type, 1 for a commit.
				if len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:4]) == 1 {
					committed[pidEpoch{r.ProducerID, r.ProducerEpoch}] = true
				}
				delete(open[k], r.ProducerID)
			case r.Attrs.IsTransactional():
				if open[k] == nil {
					open[k] = map[int64]*Orphan{}
				}
				if o := open[k][r.ProducerID]; o != nil {
					o.ProducerEpoch = max(o.ProducerEpoch, r.ProducerEpoch)
					return
				}
				open[k][r.ProducerID] = &Orphan{Topic: r.Topic, Partition: r.Partition,
					ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch, FirstOffset: r.Offset}
			}
		})
	}
	var out []Orphan
	for _, m := range open {
		for _, o := range m {
			o.Committed = committed[pidEpoch{o.ProducerID, o.ProducerEpoch}]
			out = append(out, *o)
		}
	}
	slices.SortFunc(out, func(a, b Orphan) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.ProducerID - b.ProducerID)
	})
	return out, nil
}

// writeAborts writes one marker per orphan (a commit or an abort, as
// Committed says), through the partition's leader.
func writeAborts(ctx context.Context, cl *kgo.Client, tds kadm.TopicDetails, orphans []Orphan) error {
	byLeader := map[int32][]Orphan{}
	for _, o := range orphans {
		p, ok := tds[o.Topic].Partitions[o.Partition]
		if !ok {
			return fmt.Errorf("no leader for %s/%d", o.Topic, o.Partition)
		}
		byLeader[p.Leader] = append(byLeader[p.Leader], o)
	}
	for leader, batch := range byLeader {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		for _, o := range batch {
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID, m.ProducerEpoch, m.Committed = o.ProducerID, o.ProducerEpoch, o.Committed
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic, t.Partitions = o.Topic, []int32{o.Partition}
			m.Topics = append(m.Topics, t)
			req.Markers = append(req.Markers, m)
		}
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			return fmt.Errorf("write transaction markers: %w", err)
		}
		for _, m := range resp.Markers {
			for _, t := range m.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						return fmt.Errorf("marker for producer %d on %s/%d: %w", m.ProducerID, t.Topic, p.Partition, err)
					}
				}
			}
		}
	}
	return nil
}

package kafkabroker

import (
	"cmp"
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
	"ziett.co/campaigns/adapters/kafkalog"
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
func recoverDir(ctx context.Context, dir string, log *logger) ([]Orphan, []Resurrected, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.WithLogger(log),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
	)
	if err != nil {
		return nil, nil, err
	}
	log.resetErrors()
	orphans, damaged, err := AbortOrphans(ctx, c.ListenAddrs())
	c.Close()
	if err != nil {
		return nil, nil, err
	}
	if err := log.err(); err != nil {
		return nil, nil, err
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
		return nil, nil, err
	}
	for _, f := range snaps {
		if err := os.Remove(f); err != nil {
			return nil, nil, err
		}
	}
	return orphans, damaged, nil
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
func AbortOrphans(ctx context.Context, brokers []string) ([]Orphan, []Resurrected, error) {
	cl, err := kafkalog.Client(kafkalog.ClientConfig{Brokers: brokers})
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := tds.Error(); err != nil {
		return nil, nil, err
	}
	if len(tds) == 0 {
		return nil, nil, nil
	}
	starts, err := adm.ListStartOffsets(ctx, tds.Names()...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, tds.Names()...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	orphans, damaged, err := scanOpen(ctx, brokers, starts, ends)
	if err != nil || len(orphans) == 0 {
		return orphans, damaged, err
	}
	if err := writeAborts(ctx, cl, tds, orphans); err != nil {
		return nil, nil, err
	}
	return orphans, damaged, nil
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

// Resurrected is the damage an unrecovered crash leaves (a data directory
// last run by a version without this recovery): records of a transaction
// the crash left open, which the producer's next commit marker now closes,
// so every reader takes them for committed. Markers cannot be inserted
// before a later one, so this is reported, not repaired.
type Resurrected struct {
	Topic      string
	Partition  int32
	ProducerID int64
	// FirstOffset is the first such record; Records how many there are.
	FirstOffset int64
	Records     int
}

// openTxn is a producer's transaction in one partition while the scan is
// inside it.
type openTxn struct {
	Orphan
	// byEpoch counts its records per producer epoch, with the first
	// offset of each: a transaction is one epoch, so records of another
	// epoch closed by a commit marker were left open by a crash.
	byEpoch map[int16]*Resurrected
}

// scanOpen reads [start, end) of every partition and returns the
// transactions still open at the end, and the records an earlier crash
// left open that a later commit marker closed.
func scanOpen(ctx context.Context, brokers []string, starts, ends kadm.ListedOffsets) ([]Orphan, []Resurrected, error) {
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
		return nil, nil, nil
	}
	cl, err := kafkalog.Client(kafkalog.ClientConfig{Brokers: brokers},
		kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	open := map[partKey]map[int64]*openTxn{}
	committed := map[pidEpoch]bool{}
	var damaged []Resurrected
	for len(last) > 0 {
		// A broker that stops handing out records before the end it
		// reported must not hang the start: give up, naming where.
		pollCtx, cancel := context.WithTimeout(ctx, scanStall)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if pollCtx.Err() != nil && fs.NumRecords() == 0 {
			var at []string
			for k, end := range last {
				at = append(at, fmt.Sprintf("%s/%d (end %d)", k.topic, k.partition, end+1))
			}
			slices.Sort(at)
			return nil, nil, fmt.Errorf("reading the log stalled for %s with partitions unread to their end: %s", scanStall, strings.Join(at, ", "))
		}
		if err := fs.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, err
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
				commit := len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:4]) == 1
				if commit {
					committed[pidEpoch{r.ProducerID, r.ProducerEpoch}] = true
					if t := open[k][r.ProducerID]; t != nil {
						for e, d := range t.byEpoch {
							if e != r.ProducerEpoch {
								damaged = append(damaged, *d)
							}
						}
					}
				}
				delete(open[k], r.ProducerID)
			case r.Attrs.IsTransactional():
				if open[k] == nil {
					open[k] = map[int64]*openTxn{}
				}
				t := open[k][r.ProducerID]
				if t == nil {
					t = &openTxn{Orphan: Orphan{Topic: r.Topic, Partition: r.Partition,
						ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch, FirstOffset: r.Offset},
						byEpoch: map[int16]*Resurrected{}}
					open[k][r.ProducerID] = t
				}
				t.ProducerEpoch = max(t.ProducerEpoch, r.ProducerEpoch)
				d := t.byEpoch[r.ProducerEpoch]
				if d == nil {
					d = &Resurrected{Topic: r.Topic, Partition: r.Partition, ProducerID: r.ProducerID, FirstOffset: r.Offset}
					t.byEpoch[r.ProducerEpoch] = d
				}
				d.Records++
			}
		})
	}
	var out []Orphan
	for _, m := range open {
		for _, t := range m {
			t.Committed = committed[pidEpoch{t.ProducerID, t.ProducerEpoch}]
			out = append(out, t.Orphan)
		}
	}
	slices.SortFunc(out, func(a, b Orphan) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.ProducerID, b.ProducerID))
	})
	slices.SortFunc(damaged, func(a, b Resurrected) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.FirstOffset, b.FirstOffset))
	})
	return out, damaged, nil
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

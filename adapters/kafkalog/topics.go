// Package kafkalog is the event store: it writes events to Kafka, reads
// them back, and runs the transactional consume-produce loops that turn
// events into further events exactly once.
package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/domain/events"
)

// Topic names. The organisation stream is keyed by organisation so one
// partition holds an organisation's campaigns and its balance; message
// events are keyed by campaign so one partition holds a campaign's outcomes.
const (
	OrgEvents        = "ziett.org-events"
	MessageEvents    = "ziett.message-events"
	DeliveriesPrefix = "ziett.deliveries."
	// Receipts holds operator delivery receipts as received (operational,
	// not events), keyed by campaign; the receipt stage turns them into
	// one MessageDelivered or MessageUndelivered per message.
	Receipts = "ziett.receipts"

	// Snapshot topics hold the state of the stateful stages, one partition
	// per partition of the topic they consume (see SnapshotPolicy).
	ProcessorSnapshots  = "ziett.snapshots.processor"
	CompletionSnapshots = "ziett.snapshots.completion"
	ReceiptSnapshots    = "ziett.snapshots.receipts"
)

// DeliveryTopic is the queue of one provider.
func DeliveryTopic(provider string) string { return DeliveriesPrefix + provider }

// PriorityDeliveryTopic is one provider's priority queue: single messages
// (Send Message), which its dispatchers serve before any waiting campaign
// message, within the same throughput limit.
func PriorityDeliveryTopic(provider string) string {
	return DeliveriesPrefix + provider + prioritySuffix
}

// prioritySuffix ends a priority queue's name; provider names cannot
// contain a dot (domain/routing), so no provider's queue can end with it.
const prioritySuffix = ".priority"

// Layout says how many partitions each topic gets when it is created.
type Layout struct {
	Partitions  int32
	Replication int16
}

// EnsureTopics creates the event topics and one delivery queue per provider,
// leaving existing topics as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, l Layout, providers []string) error {
	adm := kadm.NewClient(cl)
	if l.Partitions <= 0 {
		l.Partitions = 8
	}
	if l.Replication == 0 {
		l.Replication = -1 // broker default
	}
	// The event topics are the source of truth and an audit log: never expire.
	events := map[string]*string{"retention.ms": kadm.StringPtr("-1")}
	queues := map[string]*string{"retention.ms": kadm.StringPtr("604800000")}
	create := func(topics []string, cfg map[string]*string) error {
		resp, err := adm.CreateTopics(ctx, l.Partitions, l.Replication, cfg, topics...)
		if err != nil {
			return err
		}
		for _, r := range resp.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
			}
		}
		return nil
	}
	if err := create([]string{OrgEvents, MessageEvents}, events); err != nil {
		return err
	}
	qs := make([]string, 0, len(providers))
	for _, p := range providers {
		qs = append(qs, DeliveryTopic(p), PriorityDeliveryTopic(p))
	}
	if err := create(append(qs, Receipts), queues); err != nil {
		return err
	}
	return ensureSnapshotTopics(ctx, adm, l.Replication, map[string]string{
		ProcessorSnapshots: OrgEvents, CompletionSnapshots: MessageEvents, ReceiptSnapshots: Receipts,
	})
}

// ensureSnapshotTopics creates each snapshot topic with as many partitions
// as the topic it snapshots has (which may differ from the layout if that
// topic was created earlier), compacted so only the latest snapshot per
// partition is kept.
func ensureSnapshotTopics(ctx context.Context, adm *kadm.Client, replication int16, of map[string]string) error {
	sources := make([]string, 0, len(of))
	for _, src := range of {
		sources = append(sources, src)
	}
	tds, err := adm.ListTopics(ctx, sources...)
	if err != nil {
		return err
	}
	cfg := map[string]*string{
		"cleanup.policy":    kadm.StringPtr("compact"),
		"max.message.bytes": kadm.StringPtr(strconv.Itoa(snapshotMaxBytes + 64<<10)),
		// Compaction only reaches closed segments: roll them often so the
		// partition stays a handful of records.
		"segment.ms": kadm.StringPtr("3600000"),
	}
	for snap, src := range of {
		td, ok := tds[src]
		if !ok || td.Err != nil || len(td.Partitions) == 0 {
			return fmt.Errorf("describe topic %s: %v", src, td.Err)
		}
		// CreateTopic reports the topic's own error as err too.
		if _, err := adm.CreateTopic(ctx, int32(len(td.Partitions)), replication, cfg, snap); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", snap, err)
		}
	}
	return nil
}

// TopicsOf are the topics that hold the streams given. The delivery queues
// are one topic per provider and are named by provider (DeliveryTopic),
// not by stream.
func TopicsOf(streams []events.Stream) []string {
	out := make([]string, 0, len(streams))
	for _, s := range streams {
		switch s {
		case events.OrgStream:
			out = append(out, OrgEvents)
		case events.MessageStream:
			out = append(out, MessageEvents)
		case events.Receipts:
			out = append(out, Receipts)
		}
	}
	return out
}

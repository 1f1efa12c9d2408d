// Package kafkalog is the event store: it writes events to Kafka, reads
// them back, and runs the transactional consume-produce loops that turn
// events into further events exactly once.
package kafkalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic names. The organisation stream is keyed by organisation so one
// partition holds an organisation's campaigns and its balance; message
// events are keyed by campaign so one partition holds a campaign's outcomes.
const (
	OrgEvents        = "ziett.org-events"
	MessageEvents    = "ziett.message-events"
	DeliveriesPrefix = "ziett.deliveries."
)

// DeliveryTopic is the queue of one provider.
func DeliveryTopic(provider string) string { return DeliveriesPrefix + provider }

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
		qs = append(qs, DeliveryTopic(p))
	}
	return create(qs, queues)
}

package accept

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

// KafkaStream is the Stream over the organisation topic.
type KafkaStream struct {
	Client  *kgo.Client
	Brokers []string
}

// PartitionOf is the partition of the organisation stream that holds
// org's events, out of n.
func PartitionOf(org uuid.UUID, n int) int32 {
	return kafkalog.PartitionFor(kafkalog.RecordKey(org), n)
}

func (k KafkaStream) End(ctx context.Context, org uuid.UUID) (int32, int64, error) {
	ends, err := kadm.NewClient(k.Client).ListEndOffsets(ctx, kafkalog.OrgEvents)
	if err != nil {
		return 0, 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, 0, err
	}
	n := 0
	ends.Each(func(kadm.ListedOffset) { n++ })
	if n == 0 {
		return 0, 0, fmt.Errorf("topic %s has no partitions", kafkalog.OrgEvents)
	}
	p := PartitionOf(org, n)
	o, ok := ends.Lookup(kafkalog.OrgEvents, p)
	if !ok {
		return 0, 0, fmt.Errorf("no end offset for %s/%d", kafkalog.OrgEvents, p)
	}
	return p, o.Offset, nil
}

func (k KafkaStream) Scan(ctx context.Context, p int32, from, to int64, fn func(int64, events.Envelope)) error {
	_, err := kafkalog.ReadPartition(ctx, k.Brokers, kafkalog.OrgEvents, p, from, to, func(r *kgo.Record) {
		if e, err := kafkalog.Decode(r); err == nil {
			fn(r.Offset, e)
		}
	})
	return err
}

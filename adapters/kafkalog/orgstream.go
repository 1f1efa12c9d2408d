package kafkalog

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/domain/events"
)

// OrgStream reads an organisation's shard of the organisation stream: the
// log the API consults where the ledger read model may lag (see
// commands/accept's Stream).
type OrgStream struct {
	Client  *kgo.Client
	Brokers []string
}

// PartitionOf is the partition of the organisation stream that holds
// org's events, out of n.
func PartitionOf(org uuid.UUID, n int) int32 {
	return partitionFor(recordKey(org), n)
}

// End is the shard holding org's events and its end offset.
func (k OrgStream) End(ctx context.Context, org uuid.UUID) (int32, int64, error) {
	ends, err := kadm.NewClient(k.Client).ListEndOffsets(ctx, OrgEvents)
	if err != nil {
		return 0, 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, 0, err
	}
	n := 0
	ends.Each(func(kadm.ListedOffset) { n++ })
	if n == 0 {
		return 0, 0, fmt.Errorf("topic %s has no partitions", OrgEvents)
	}
	p := PartitionOf(org, n)
	o, ok := ends.Lookup(OrgEvents, p)
	if !ok {
		return 0, 0, fmt.Errorf("no end offset for %s/%d", OrgEvents, p)
	}
	return p, o.Offset, nil
}

// Scan calls fn for each event of shard p with from <= offset < to.
func (k OrgStream) Scan(ctx context.Context, p int32, from, to int64, fn func(int64, events.Envelope)) error {
	_, err := ReadPartition(ctx, k.Brokers, OrgEvents, p, from, to, func(r *kgo.Record) {
		if e, err := Decode(r); err == nil {
			fn(r.Offset, e)
		}
	})
	return err
}

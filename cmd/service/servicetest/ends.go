package servicetest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// listEnds gives each partition's last stable offset: where a
// read_committed reader ends.
func listEnds(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	offs, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err == nil {
		// A partition that failed to list would otherwise read as empty.
		err = offs.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

package kafkalog

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/domain/events"
)

// Appender writes events outside any transaction: the producer is
// idempotent with acks=all (franz-go's defaults), so a returned nil means
// every replica in sync has the records.
type Appender struct{ cl *kgo.Client }

func NewAppender(cl *kgo.Client) *Appender { return &Appender{cl: cl} }

// Append writes messages to their streams and waits for all of them to be
// acknowledged.
func (a *Appender) Append(ctx context.Context, msgs ...events.Message) error {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		r, err := EncodeMessage(m)
		if err != nil {
			return err
		}
		recs[i] = r
	}
	return a.cl.ProduceSync(ctx, recs...).FirstErr()
}

package kafkalog

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Appender writes events outside any transaction: the producer is
// idempotent with acks=all (franz-go's defaults), so a returned nil means
// every replica in sync has the records.
type Appender struct{ cl *kgo.Client }

func NewAppender(cl *kgo.Client) *Appender { return &Appender{cl: cl} }

// Append writes records and waits for all of them to be acknowledged.
func (a *Appender) Append(ctx context.Context, recs ...*kgo.Record) error {
	return a.cl.ProduceSync(ctx, recs...).FirstErr()
}

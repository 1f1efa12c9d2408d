package control

import (
	"context"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
)

// Consent changes an organisation's suppression list on the customer's
// request. The processor, the organisation's single writer, applies the
// change before the organisation's next campaign.
type Consent struct {
	Log Appender
}

// Suppress adds numbers (E.164) to the organisation's list.
func (c Consent) Suppress(ctx context.Context, org uuid.UUID, numbers []string) error {
	return c.append(ctx, org, numbers, true)
}

// Unsuppress removes a number (E.164) from the organisation's list.
func (c Consent) Unsuppress(ctx context.Context, org uuid.UUID, e164 string) error {
	return c.append(ctx, org, []string{e164}, false)
}

func (c Consent) append(ctx context.Context, org uuid.UUID, numbers []string, on bool) error {
	now := time.Now()
	recs := make([]events.Message, 0, len(numbers))
	for _, n := range numbers {
		body := events.SuppressionV1{E164: n, Source: events.SuppressionByAPI}
		var p events.Payload = events.NumberUnsuppressedV1{SuppressionV1: body}
		if on {
			p = events.NumberSuppressedV1{SuppressionV1: body}
		}
		env, err := events.New(uuid.Must(uuid.NewV7()), org, uuid.Nil, p, now, "", uuid.Nil, source)
		if err != nil {
			return err
		}
		recs = append(recs, events.OnOrgStream(env))
	}
	return c.Log.Append(ctx, recs...)
}

package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/webhook"
)

// TestEvent is the type of the event a customer sends to an endpoint to
// try it. Endpoints receive it whatever event types they subscribe to.
const TestEvent = "webhook.test"

// testEventData is a test event's data.
type testEventData struct {
	WebhookID uuid.UUID `json:"webhook_id"`
	Message   string    `json:"message"`
}

// SendTest queues a test event to one enabled endpoint of org, signed and
// retried like any other event, and returns its delivery. Test events
// belong to no campaign: their campaign_id is the nil UUID and their
// sequence counts the test events sent so far.
func (s *Service) SendTest(ctx context.Context, org, endpoint uuid.UUID) (uuid.UUID, error) {
	var delivery uuid.UUID
	// Two tests at once may pick the same sequence; the loser retries.
	for try := 0; ; try++ {
		err := s.store.Update(ctx, func(tx Tx) error {
			status, err := tx.EndpointStatus(ctx, org, endpoint)
			if err != nil {
				return err
			}
			if status != webhook.Enabled {
				return ErrDisabled
			}
			last, err := tx.LastSequence(ctx, uuid.Nil)
			if err != nil {
				return err
			}
			id, now := uuid.Must(uuid.NewV7()), time.Now().UTC()
			payload, err := json.Marshal(struct {
				ID        uuid.UUID     `json:"id"`
				Type      string        `json:"type"`
				Timestamp time.Time     `json:"timestamp"`
				Data      testEventData `json:"data"`
			}{id, TestEvent, now, testEventData{endpoint, "A test event: this endpoint receives Ziett Campaigns webhooks."}})
			if err != nil {
				return err
			}
			if err := tx.AddEvent(ctx, Event{ID: id, SourceID: id, OrgID: org, CampaignID: uuid.Nil, Type: TestEvent,
				Sequence: last + 1, Payload: payload, OccurredAt: now}); err != nil {
				return err
			}
			delivery = webhook.DeliveryID(id, endpoint)
			if err := tx.AddDelivery(ctx, delivery, endpoint, id); err != nil {
				return err
			}
			return tx.Enqueue(ctx, webhook.Job{DeliveryID: delivery, Attempt: 1})
		})
		if errors.Is(err, ErrConflict) && try < 3 {
			continue
		}
		return delivery, err
	}
}

package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
func (r Registry) SendTest(ctx context.Context, org, endpoint uuid.UUID) (uuid.UUID, error) {
	var delivery uuid.UUID
	// Two tests at once may pick the same sequence; the loser retries.
	for try := 0; ; try++ {
		err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
			var status string
			err := tx.QueryRow(ctx, `SELECT status FROM webhook_endpoints WHERE endpoint_id = $1 AND org_id = $2 FOR KEY SHARE`,
				endpoint, org).Scan(&status)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			if status != Enabled {
				return ErrDisabled
			}
			var seq int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(sequence), 0) + 1 FROM webhook_events WHERE campaign_id = $1`,
				uuid.Nil).Scan(&seq); err != nil {
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
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_events (event_id, source_event_id, org_id, campaign_id, type, sequence, payload, occurred_at)
				VALUES ($1, $1, $2, $3, $4, $5, $6, $7)`, id, org, uuid.Nil, TestEvent, seq, payload, now); err != nil {
				return err
			}
			delivery = DeliveryID(id, endpoint)
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_id, status, next_attempt_at)
				VALUES ($1, $2, $3, 'PENDING', now())`, delivery, endpoint, id); err != nil {
				return err
			}
			return Publish(ctx, wsql.TxFromPgx(tx), Topic, NewJobMessage(Job{DeliveryID: delivery, Attempt: 1}, time.Time{}))
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && try < 3 {
			continue
		}
		return delivery, err
	}
}

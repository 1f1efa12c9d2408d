package webhooks

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/domain/webhook"
)

// Delivery is one event's delivery to one endpoint, with every attempt.
type Delivery struct {
	// DeliveryID is the webhook-id header of every attempt.
	DeliveryID    uuid.UUID  `json:"delivery_id"`
	EventID       uuid.UUID  `json:"event_id"`
	EventType     string     `json:"event_type"`
	CampaignID    uuid.UUID  `json:"campaign_id"`
	Sequence      int        `json:"sequence"`
	Status        string     `json:"status"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	LastError     *string    `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
	Attempts      []Attempt  `json:"attempts"`
}

// Attempt is one HTTP request of a delivery and what came of it.
type Attempt struct {
	Attempt int  `json:"attempt"`
	Manual  bool `json:"manual"`
	// WebhookTimestamp is the webhook-timestamp header sent (Unix seconds).
	WebhookTimestamp int64     `json:"webhook_timestamp"`
	StartedAt        time.Time `json:"started_at"`
	DurationMS       int       `json:"duration_ms"`
	StatusCode       *int      `json:"status_code"`
	Error            *string   `json:"error"`
	ResponseBody     *string   `json:"response_body"`
	Succeeded        bool      `json:"succeeded"`
}

// DeliveryCursor is the position after the last delivery of a page,
// newest first.
type DeliveryCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// DeliveryQuery selects an endpoint's deliveries, newest first.
type DeliveryQuery struct {
	Statuses []string // any of these; all when empty
	After    *DeliveryCursor
	Limit    int
}

// Reader answers the queries over the deliveries the outbox recorded and
// their attempts. Every call is scoped by organisation.
type Reader struct{ DB *pgxpool.Pool }

// Deliveries returns up to q.Limit deliveries of an endpoint and whether
// more follow.
func (r Reader) Deliveries(ctx context.Context, org, endpoint uuid.UUID, q DeliveryQuery) (ds []Delivery, more bool, err error) {
	// One snapshot, so that a delivery's state and its attempts agree.
	err = pgx.BeginTxFunc(ctx, r.DB, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		ds, more, err = deliveries(ctx, tx, org, endpoint, q)
		return err
	})
	return ds, more, err
}

func deliveries(ctx context.Context, tx pgx.Tx, org, endpoint uuid.UUID, q DeliveryQuery) ([]Delivery, bool, error) {
	if err := owns(ctx, tx, org, endpoint); err != nil {
		return nil, false, err
	}
	args := []any{endpoint, q.Limit + 1}
	sql := `SELECT d.delivery_id, d.event_id, e.type, e.campaign_id, e.sequence, d.status, d.next_attempt_at,
			d.delivered_at, d.last_error, d.created_at
		FROM webhook_deliveries d JOIN webhook_events e USING (event_id)
		WHERE d.endpoint_id = $1`
	if len(q.Statuses) > 0 {
		args = append(args, q.Statuses)
		sql += ` AND d.status = ANY($3)`
	}
	if q.After != nil {
		n := len(args)
		args = append(args, q.After.CreatedAt, q.After.ID)
		sql += ` AND (d.created_at, d.delivery_id) < ($` + strconv.Itoa(n+1) + `, $` + strconv.Itoa(n+2) + `)`
	}
	sql += ` ORDER BY d.created_at DESC, d.delivery_id DESC LIMIT $2`
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := row.Scan(&d.DeliveryID, &d.EventID, &d.EventType, &d.CampaignID, &d.Sequence, &d.Status,
			&d.NextAttemptAt, &d.DeliveredAt, &d.LastError, &d.CreatedAt)
		d.Attempts = []Attempt{}
		return d, err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(ds) > q.Limit
	if more {
		ds = ds[:q.Limit]
	}
	if len(ds) == 0 {
		return ds, false, nil
	}
	ids := make([]uuid.UUID, len(ds))
	at := make(map[uuid.UUID]int, len(ds))
	for i, d := range ds {
		ids[i], at[d.DeliveryID] = d.DeliveryID, i
	}
	rows, err = tx.Query(ctx, `SELECT delivery_id, attempt, manual, webhook_timestamp, started_at, duration_ms,
			status_code, error, response_body, succeeded
		FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt`, ids)
	if err != nil {
		return nil, false, err
	}
	var id uuid.UUID
	var a Attempt
	_, err = pgx.ForEachRow(rows, []any{&id, &a.Attempt, &a.Manual, &a.WebhookTimestamp, &a.StartedAt, &a.DurationMS,
		&a.StatusCode, &a.Error, &a.ResponseBody, &a.Succeeded}, func() error {
		d := &ds[at[id]]
		d.Attempts = append(d.Attempts, a)
		a = Attempt{}
		return nil
	})
	return ds, more, err
}

func owns(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, org, endpoint uuid.UUID) error {
	var ok bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE endpoint_id = $1 AND org_id = $2)`,
		endpoint, org).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return webhook.ErrNotFound
	}
	return nil
}

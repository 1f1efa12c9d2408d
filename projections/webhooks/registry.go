package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Endpoint statuses.
const (
	Enabled  = "ENABLED"
	Disabled = "DISABLED"
)

// Delivery statuses.
const (
	Pending   = "PENDING"
	Delivered = "DELIVERED"
	Failed    = "FAILED"
)

// SecretPrefix marks a signing secret, as the Standard Webhooks libraries
// expect it.
const SecretPrefix = "whsec_"

// secretBytes is the signing key's length: 256 bits, above the spec's
// minimum of 24 bytes.
const secretBytes = 32

// MaxEndpoints bounds an organisation's endpoints, so one event cannot fan
// out into an unbounded number of deliveries.
const MaxEndpoints = 20

var (
	// ErrNotFound covers a missing endpoint or delivery and another
	// organisation's alike.
	ErrNotFound = errors.New("webhook endpoint not found")
	// ErrLimit refuses an endpoint beyond MaxEndpoints.
	ErrLimit = errors.New("too many webhook endpoints")
	// ErrDeliveryNotFound is a delivery that is not the endpoint's.
	ErrDeliveryNotFound = errors.New("webhook delivery not found")
	// ErrDisabled refuses a resend to a disabled endpoint.
	ErrDisabled = errors.New("webhook endpoint is disabled")
)

// NewSecret returns a fresh signing secret: whsec_ and the base64 of 32
// random bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails on Linux
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Endpoint is a registered webhook endpoint as the API shows it: never
// with its secret, which is shown once, when issued.
type Endpoint struct {
	ID                      uuid.UUID  `json:"webhook_id"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	EventTypes              []string   `json:"event_types"`
	Status                  string     `json:"status"`
	DisabledReason          *string    `json:"disabled_reason"`
	DisabledAt              *time.Time `json:"disabled_at"`
	FailingSince            *time.Time `json:"failing_since"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// NewEndpoint is what a customer registers; the API validates it.
type NewEndpoint struct {
	URL         string
	Description string
	EventTypes  []string
}

// Registry keeps the endpoints and answers the delivery queries. Every
// call is scoped by organisation.
type Registry struct{ DB *pgxpool.Pool }

const endpointColumns = `endpoint_id, url, description, event_types, status, disabled_reason, disabled_at,
	failing_since, CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END, created_at, updated_at`

func scanEndpoint(row pgx.Row) (Endpoint, error) {
	var e Endpoint
	err := row.Scan(&e.ID, &e.URL, &e.Description, &e.EventTypes, &e.Status, &e.DisabledReason, &e.DisabledAt,
		&e.FailingSince, &e.PreviousSecretExpiresAt, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// Create registers an endpoint and returns it with its secret.
func (r Registry) Create(ctx context.Context, org uuid.UUID, in NewEndpoint) (Endpoint, string, error) {
	secret := NewSecret()
	var e Endpoint
	err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		// Serialises an organisation's creations so the limit holds; the
		// lock mode leaves foreign-key checks on the row alone.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM organisations WHERE org_id = $1 FOR NO KEY UPDATE`, org); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE org_id = $1`, org).Scan(&n); err != nil {
			return err
		}
		if n >= MaxEndpoints {
			return ErrLimit
		}
		var err error
		e, err = scanEndpoint(tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (endpoint_id, org_id, url, description, event_types, secret)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+endpointColumns,
			uuid.Must(uuid.NewV7()), org, in.URL, in.Description, in.EventTypes, secret))
		return err
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	return e, secret, nil
}

// List returns an organisation's endpoints, oldest first.
func (r Registry) List(ctx context.Context, org uuid.UUID) ([]Endpoint, error) {
	rows, err := r.DB.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE org_id = $1
		ORDER BY created_at, endpoint_id`, org)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Endpoint, error) { return scanEndpoint(row) })
}

// Get returns one endpoint.
func (r Registry) Get(ctx context.Context, org, id uuid.UUID) (Endpoint, error) {
	return scanEndpoint(r.DB.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE endpoint_id = $1 AND org_id = $2`, id, org))
}

// Delete removes an endpoint with its deliveries and their attempts; jobs
// still queued for them find nothing and are dropped.
func (r Registry) Delete(ctx context.Context, org, id uuid.UUID) error {
	tag, err := r.DB.Exec(ctx, `DELETE FROM webhook_endpoints WHERE endpoint_id = $1 AND org_id = $2`, id, org)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// RotateSecret issues a new secret. The old one keeps signing beside it
// for keepOld (not at all when zero), so receivers that still check the
// old one accept every delivery meanwhile.
func (r Registry) RotateSecret(ctx context.Context, org, id uuid.UUID, keepOld time.Duration) (Endpoint, string, error) {
	secret := NewSecret()
	var expires *time.Time
	if keepOld > 0 {
		t := time.Now().Add(keepOld)
		expires = &t
	}
	e, err := scanEndpoint(r.DB.QueryRow(ctx, `UPDATE webhook_endpoints SET
			previous_secret = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret END,
			previous_secret_expires_at = $4, secret = $3, updated_at = now()
		WHERE endpoint_id = $1 AND org_id = $2 RETURNING `+endpointColumns, id, org, secret, expires))
	if err != nil {
		return Endpoint{}, "", err
	}
	return e, secret, nil
}

// Enable turns a disabled endpoint back on. Deliveries that failed while
// it was off stay failed; they can be resent one by one.
func (r Registry) Enable(ctx context.Context, org, id uuid.UUID) (Endpoint, error) {
	return scanEndpoint(r.DB.QueryRow(ctx, `UPDATE webhook_endpoints SET status = 'ENABLED', disabled_reason = NULL,
			disabled_at = NULL, failing_since = NULL, updated_at = now()
		WHERE endpoint_id = $1 AND org_id = $2 RETURNING `+endpointColumns, id, org))
}

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

// Deliveries returns up to q.Limit deliveries of an endpoint and whether
// more follow.
func (r Registry) Deliveries(ctx context.Context, org, endpoint uuid.UUID, q DeliveryQuery) (ds []Delivery, more bool, err error) {
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

// Resend queues one more attempt of a delivery, now. The endpoint must be
// enabled; the delivery may be in any state.
func (r Registry) Resend(ctx context.Context, org, endpoint, delivery uuid.UUID) error {
	return pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT p.status FROM webhook_deliveries d JOIN webhook_endpoints p USING (endpoint_id)
			WHERE d.delivery_id = $1 AND d.endpoint_id = $2 AND p.org_id = $3`, delivery, endpoint, org).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			if err := owns(ctx, tx, org, endpoint); err != nil {
				return err
			}
			return ErrDeliveryNotFound
		}
		if err != nil {
			return err
		}
		if status != Enabled {
			return ErrDisabled
		}
		return Publish(ctx, wsql.TxFromPgx(tx), Topic, NewJobMessage(Job{DeliveryID: delivery, Manual: true}, time.Time{}))
	})
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
		return ErrNotFound
	}
	return nil
}

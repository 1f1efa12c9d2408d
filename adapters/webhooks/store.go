package webhooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	cmdwh "ziett.co/campaigns/commands/webhooks"
	"ziett.co/campaigns/domain/webhook"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// Registry is webhooks as the HTTP API and the dashboard use them: the
// endpoint commands over Store, and the delivery query of the read model.
type Registry struct {
	*cmdwh.Service
	whproj.Reader
}

// NewRegistry returns the registry over db.
func NewRegistry(db *pgxpool.Pool) Registry {
	return Registry{Service: cmdwh.New(Store{DB: db}), Reader: whproj.Reader{DB: db}}
}

// Store keeps webhook endpoints in PostgreSQL (table webhook_endpoints);
// its transactions record test events and deliveries and queue jobs on
// Queue. It implements commands/webhooks.Store.
type Store struct{ DB *pgxpool.Pool }

var (
	_ cmdwh.Store  = Store{}
	_ whproj.Queue = Queue{}
)

const endpointColumns = `endpoint_id, url, description, event_types, status, disabled_reason, disabled_at,
	failing_since, CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END, created_at, updated_at`

func scanEndpoint(row pgx.Row) (cmdwh.Endpoint, error) {
	var e cmdwh.Endpoint
	err := row.Scan(&e.ID, &e.URL, &e.Description, &e.EventTypes, &e.Status, &e.DisabledReason, &e.DisabledAt,
		&e.FailingSince, &e.PreviousSecretExpiresAt, &e.CreatedAt, &e.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, webhook.ErrNotFound
	}
	return e, err
}

// List implements cmdwh.Store.
func (s Store) List(ctx context.Context, org uuid.UUID) ([]cmdwh.Endpoint, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE org_id = $1
		ORDER BY created_at, endpoint_id`, org)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (cmdwh.Endpoint, error) { return scanEndpoint(row) })
}

// Get implements cmdwh.Store.
func (s Store) Get(ctx context.Context, org, id uuid.UUID) (cmdwh.Endpoint, error) {
	return scanEndpoint(s.DB.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE endpoint_id = $1 AND org_id = $2`, id, org))
}

// Remove implements cmdwh.Store: the deliveries and attempts go with the
// endpoint (ON DELETE CASCADE).
func (s Store) Remove(ctx context.Context, org, id uuid.UUID) error {
	tag, err := s.DB.Exec(ctx, `DELETE FROM webhook_endpoints WHERE endpoint_id = $1 AND org_id = $2`, id, org)
	if err == nil && tag.RowsAffected() == 0 {
		return webhook.ErrNotFound
	}
	return err
}

// Rotate implements cmdwh.Store.
func (s Store) Rotate(ctx context.Context, org, id uuid.UUID, r cmdwh.Rotation) (cmdwh.Endpoint, error) {
	return scanEndpoint(s.DB.QueryRow(ctx, `UPDATE webhook_endpoints SET
			previous_secret = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret END,
			previous_secret_expires_at = $4, secret = $3, updated_at = now()
		WHERE endpoint_id = $1 AND org_id = $2 RETURNING `+endpointColumns, id, org, r.Secret, r.KeepPreviousUntil))
}

// Enable implements cmdwh.Store.
func (s Store) Enable(ctx context.Context, org, id uuid.UUID) (cmdwh.Endpoint, error) {
	return scanEndpoint(s.DB.QueryRow(ctx, `UPDATE webhook_endpoints SET status = 'ENABLED', disabled_reason = NULL,
			disabled_at = NULL, failing_since = NULL, updated_at = now()
		WHERE endpoint_id = $1 AND org_id = $2 RETURNING `+endpointColumns, id, org))
}

// Update implements cmdwh.Store: a unique violation wraps
// cmdwh.ErrConflict.
func (s Store) Update(ctx context.Context, fn func(tx cmdwh.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error { return fn(storeTx{tx}) })
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %w", cmdwh.ErrConflict, err)
	}
	return err
}

// storeTx is a Store transaction.
type storeTx struct{ tx pgx.Tx }

func (t storeTx) CountEndpoints(ctx context.Context, org uuid.UUID) (int, error) {
	// Serialises an organisation's creations so the limit holds; the lock
	// mode leaves foreign-key checks on the row alone.
	if _, err := t.tx.Exec(ctx, `SELECT 1 FROM organisations WHERE org_id = $1 FOR NO KEY UPDATE`, org); err != nil {
		return 0, err
	}
	var n int
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE org_id = $1`, org).Scan(&n)
	return n, err
}

func (t storeTx) AddEndpoint(ctx context.Context, org uuid.UUID, r cmdwh.Registration) (cmdwh.Endpoint, error) {
	return scanEndpoint(t.tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (endpoint_id, org_id, url, description, event_types, secret)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+endpointColumns,
		r.ID, org, r.URL, r.Description, r.EventTypes, r.Secret))
}

func (t storeTx) EndpointStatus(ctx context.Context, org, endpoint uuid.UUID) (string, error) {
	var status string
	err := t.tx.QueryRow(ctx, `SELECT status FROM webhook_endpoints WHERE endpoint_id = $1 AND org_id = $2 FOR KEY SHARE`,
		endpoint, org).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", webhook.ErrNotFound
	}
	return status, err
}

func (t storeTx) DeliveryEndpointStatus(ctx context.Context, org, endpoint, delivery uuid.UUID) (string, error) {
	var status string
	err := t.tx.QueryRow(ctx, `SELECT p.status FROM webhook_deliveries d JOIN webhook_endpoints p USING (endpoint_id)
		WHERE d.delivery_id = $1 AND d.endpoint_id = $2 AND p.org_id = $3`, delivery, endpoint, org).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		var ok bool
		if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE endpoint_id = $1 AND org_id = $2)`,
			endpoint, org).Scan(&ok); err != nil {
			return "", err
		}
		if !ok {
			return "", webhook.ErrNotFound
		}
		return "", webhook.ErrDeliveryNotFound
	}
	return status, err
}

func (t storeTx) LastSequence(ctx context.Context, campaign uuid.UUID) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `SELECT coalesce(max(sequence), 0) FROM webhook_events WHERE campaign_id = $1`, campaign).Scan(&n)
	return n, err
}

func (t storeTx) AddEvent(ctx context.Context, e cmdwh.Event) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO webhook_events (event_id, source_event_id, org_id, campaign_id, type, sequence, payload, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.SourceID, e.OrgID, e.CampaignID, e.Type, e.Sequence, e.Payload, e.OccurredAt)
	return err
}

func (t storeTx) AddDelivery(ctx context.Context, delivery, endpoint, event uuid.UUID) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_id, status, next_attempt_at)
		VALUES ($1, $2, $3, 'PENDING', now())`, delivery, endpoint, event)
	return err
}

func (t storeTx) Enqueue(ctx context.Context, jobs ...webhook.Job) error {
	return Queue{}.Enqueue(ctx, t.tx, jobs...)
}

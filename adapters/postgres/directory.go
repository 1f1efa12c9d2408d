package postgres

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/directory"
)

// Directory holds the reference data: organisations, API keys and sender
// IDs. These are administered, not derived from events.
type Directory struct{ DB *pgxpool.Pool }

// The directory's records are the domain's (domain/directory).
type (
	Organisation = directory.Organisation
	Sender       = directory.Sender
	Key          = directory.Key
)

// ErrNotFound is directory.ErrNotFound.
var ErrNotFound = directory.ErrNotFound

// Principal is an authenticated API key.
type Principal struct {
	KeyID         uuid.UUID
	OrgID         uuid.UUID
	Scopes        []string
	RatePerMinute int
	// MessageRatePerSecond is the key's limit on Send Message.
	MessageRatePerSecond int
}

// HasScope reports whether the key carries scope.
func (p Principal) HasScope(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

func (d Directory) CreateOrganisation(ctx context.Context, name, currency string) (Organisation, error) {
	o := Organisation{ID: uuid.Must(uuid.NewV7()), Name: name, Currency: currency}
	err := d.DB.QueryRow(ctx, `INSERT INTO organisations (org_id, name, currency) VALUES ($1, $2, $3) RETURNING created_at`,
		o.ID, name, currency).Scan(&o.CreatedAt)
	return o, err
}

func (d Directory) Organisation(ctx context.Context, id uuid.UUID) (Organisation, error) {
	o := Organisation{ID: id}
	err := d.DB.QueryRow(ctx, `SELECT name, currency, created_at FROM organisations WHERE org_id = $1`, id).
		Scan(&o.Name, &o.Currency, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// CreateKey issues a key; the returned secret is shown once and never
// stored.
func (d Directory) CreateKey(ctx context.Context, org uuid.UUID, name string, scopes []string) (uuid.UUID, string, error) {
	key := apikey.New()
	id := uuid.Must(uuid.NewV7())
	_, err := d.DB.Exec(ctx, `INSERT INTO api_keys (key_id, org_id, key_hash, prefix, name, scopes) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, org, apikey.Hash(key), apikey.Display(key), name, scopes)
	return id, key, err
}

// Authenticate returns the principal of an active key. Every failure is
// ErrNotFound so callers cannot distinguish unknown from revoked.
func (d Directory) Authenticate(ctx context.Context, key string) (Principal, error) {
	if !apikey.WellFormed(key) {
		return Principal{}, ErrNotFound
	}
	h := apikey.Hash(key)
	var p Principal
	var stored []byte
	var revoked *time.Time
	err := d.DB.QueryRow(ctx, `SELECT key_id, org_id, scopes, rate_per_minute, message_rate_per_second, key_hash, revoked_at FROM api_keys WHERE key_hash = $1`, h).
		Scan(&p.KeyID, &p.OrgID, &p.Scopes, &p.RatePerMinute, &p.MessageRatePerSecond, &stored, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrNotFound
	}
	if err != nil {
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare(stored, h) != 1 || revoked != nil {
		return Principal{}, ErrNotFound
	}
	return p, nil
}

func (d Directory) RevokeKey(ctx context.Context, id uuid.UUID) error {
	tag, err := d.DB.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetKeyRate changes a key's per-minute limit on the batch endpoint.
func (d Directory) SetKeyRate(ctx context.Context, id uuid.UUID, perMinute int) error {
	tag, err := d.DB.Exec(ctx, `UPDATE api_keys SET rate_per_minute = $2 WHERE key_id = $1`, id, perMinute)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetKeyMessageRate changes a key's per-second limit on Send Message.
func (d Directory) SetKeyMessageRate(ctx context.Context, id uuid.UUID, perSecond int) error {
	tag, err := d.DB.Exec(ctx, `UPDATE api_keys SET message_rate_per_second = $2 WHERE key_id = $1`, id, perSecond)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (d Directory) RegisterSender(ctx context.Context, org uuid.UUID, sender string) (Sender, error) {
	s := Sender{RemitterID: uuid.Must(uuid.NewV7()), OrgID: org, Sender: sender, Status: "PENDING"}
	_, err := d.DB.Exec(ctx, `INSERT INTO sender_ids (remitter_id, org_id, sender, status) VALUES ($1, $2, $3, $4)`,
		s.RemitterID, org, sender, s.Status)
	return s, err
}

func (d Directory) ApproveSender(ctx context.Context, id uuid.UUID) error {
	tag, err := d.DB.Exec(ctx, `UPDATE sender_ids SET status = 'APPROVED' WHERE remitter_id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// ApprovedSender returns the sender name of an approved sender ID of org.
func (d Directory) ApprovedSender(ctx context.Context, org, id uuid.UUID) (string, error) {
	var name string
	err := d.DB.QueryRow(ctx, `SELECT sender FROM sender_ids WHERE remitter_id = $1 AND org_id = $2 AND status = 'APPROVED'`, id, org).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return name, err
}

// ListOrganisations returns every organisation, oldest first.
func (d Directory) ListOrganisations(ctx context.Context) ([]Organisation, error) {
	rows, err := d.DB.Query(ctx, `SELECT org_id, name, currency, created_at FROM organisations ORDER BY created_at, org_id`)
	if err != nil {
		return nil, err
	}
	out := []Organisation{}
	var o Organisation
	_, err = pgx.ForEachRow(rows, []any{&o.ID, &o.Name, &o.Currency, &o.CreatedAt}, func() error {
		out = append(out, o)
		return nil
	})
	return out, err
}

// Key reads one key.
func (d Directory) Key(ctx context.Context, id uuid.UUID) (Key, error) {
	var k Key
	err := d.DB.QueryRow(ctx, `SELECT key_id, org_id, prefix, name, scopes, rate_per_minute, message_rate_per_second, created_at, revoked_at
		FROM api_keys WHERE key_id = $1`, id).
		Scan(&k.KeyID, &k.OrgID, &k.Prefix, &k.Name, &k.Scopes, &k.RatePerMinute, &k.MessageRatePerSecond, &k.CreatedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ErrNotFound
	}
	return k, err
}

// ListKeys returns an organisation's keys, revoked ones included, oldest
// first.
func (d Directory) ListKeys(ctx context.Context, org uuid.UUID) ([]Key, error) {
	rows, err := d.DB.Query(ctx, `SELECT key_id, org_id, prefix, name, scopes, rate_per_minute, message_rate_per_second, created_at, revoked_at
		FROM api_keys WHERE org_id = $1 ORDER BY created_at, key_id`, org)
	if err != nil {
		return nil, err
	}
	out := []Key{}
	var k Key
	_, err = pgx.ForEachRow(rows, []any{&k.KeyID, &k.OrgID, &k.Prefix, &k.Name, &k.Scopes, &k.RatePerMinute, &k.MessageRatePerSecond, &k.CreatedAt, &k.RevokedAt},
		func() error {
			out = append(out, k)
			k.RevokedAt = nil
			return nil
		})
	return out, err
}

// ListSenders returns an organisation's sender IDs, oldest first.
func (d Directory) ListSenders(ctx context.Context, org uuid.UUID) ([]Sender, error) {
	rows, err := d.DB.Query(ctx, `SELECT remitter_id, org_id, sender, status FROM sender_ids WHERE org_id = $1 ORDER BY created_at, remitter_id`, org)
	if err != nil {
		return nil, err
	}
	out := []Sender{}
	var s Sender
	_, err = pgx.ForEachRow(rows, []any{&s.RemitterID, &s.OrgID, &s.Sender, &s.Status}, func() error {
		out = append(out, s)
		return nil
	})
	return out, err
}

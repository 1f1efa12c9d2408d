package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sessions keeps the dashboard's browser sessions. A session is found by
// the hash of its token, only while it has not expired (absolutely or for
// idleness) and its API key is not revoked.
type Sessions struct{ DB *pgxpool.Pool }

// Session is an open session and the key it acts as.
type Session struct {
	Principal Principal
	Org       Organisation
	CSRFToken string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
}

func sessionHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Create opens a session for key until expires, and drops expired ones.
func (s Sessions) Create(ctx context.Context, token string, p Principal, csrf string, expires time.Time) error {
	if _, err := s.DB.Exec(ctx, `DELETE FROM dashboard_sessions WHERE expires_at < now()`); err != nil {
		return err
	}
	_, err := s.DB.Exec(ctx, `INSERT INTO dashboard_sessions (session_hash, key_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`,
		sessionHash(token), p.KeyID, csrf, expires)
	return err
}

// Get returns the session of token with its key and organisation, or ErrNotFound when there is none, it
// has expired, it was idle for longer than idle, or its key is revoked.
// A session seen more than a minute ago is marked as seen now.
func (s Sessions) Get(ctx context.Context, token string, idle time.Duration) (Session, error) {
	var ss Session
	p := &ss.Principal
	o := &ss.Org
	err := s.DB.QueryRow(ctx, `SELECT k.key_id, k.org_id, k.scopes, k.rate_per_minute, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at,
			o.name, o.currency, o.created_at
		FROM dashboard_sessions s JOIN api_keys k USING (key_id) JOIN organisations o ON o.org_id = k.org_id
		WHERE s.session_hash = $1 AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2) AND k.revoked_at IS NULL`,
		sessionHash(token), idle.Seconds()).Scan(&p.KeyID, &p.OrgID, &p.Scopes, &p.RatePerMinute, &ss.CSRFToken, &ss.CreatedAt, &ss.LastSeen, &ss.ExpiresAt,
		&o.Name, &o.Currency, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ss, ErrNotFound
	}
	if err != nil {
		return ss, err
	}
	o.ID = p.OrgID
	if time.Since(ss.LastSeen) > time.Minute {
		if _, err := s.DB.Exec(ctx, `UPDATE dashboard_sessions SET last_seen_at = now() WHERE session_hash = $1`, sessionHash(token)); err != nil {
			return ss, err
		}
	}
	return ss, nil
}

// Delete ends a session.
func (s Sessions) Delete(ctx context.Context, token string) error {
	_, err := s.DB.Exec(ctx, `DELETE FROM dashboard_sessions WHERE session_hash = $1`, sessionHash(token))
	return err
}

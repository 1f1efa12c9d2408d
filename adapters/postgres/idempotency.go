package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/commands/accept"
)

// Idempotency stores Idempotency-Key claims (accept.Claims). Times are the
// database's, so instances with skewed clocks agree on leases and expiry.
type Idempotency struct{ DB *pgxpool.Pool }

var _ accept.Claims = Idempotency{}

const claimColumns = `org_id, key, request_hash, campaign_id, event_id, state, attempt, lease_until, now()`

func scanClaim(row pgx.Row, mine bool) (accept.Claim, error) {
	var c accept.Claim
	err := row.Scan(&c.OrgID, &c.Key, &c.RequestHash, &c.CampaignID, &c.EventID, &c.State, &c.Attempt, &c.LeaseUntil, &c.Now)
	c.Mine = mine
	return c, err
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Claim inserts the claim, or replaces one older than ttl; a live claim of
// someone else is returned as it is. The insert commits on its own: the
// claim must be visible to concurrent copies of the request before
// anything is appended, and must survive this request's crash.
func (s Idempotency) Claim(ctx context.Context, c accept.Claim, lease, ttl time.Duration) (accept.Claim, error) {
	for {
		got, err := scanClaim(s.DB.QueryRow(ctx, `
			INSERT INTO idempotency_keys AS k (org_id, key, request_hash, campaign_id, event_id, state, attempt, lease_until)
			VALUES ($1, $2, $3, $4, $5, 'PENDING', 1, now() + $6::bigint * interval '1 millisecond')
			ON CONFLICT (org_id, key) DO UPDATE SET
				request_hash = excluded.request_hash, campaign_id = excluded.campaign_id, event_id = excluded.event_id,
				state = 'PENDING', attempt = k.attempt + 1, lease_until = excluded.lease_until,
				created_at = now(), completed_at = NULL
			WHERE k.created_at <= now() - $7::bigint * interval '1 millisecond'
			RETURNING `+claimColumns,
			c.OrgID, c.Key, c.RequestHash, c.CampaignID, c.EventID, ms(lease), ms(ttl)), true)
		if err == nil {
			s.purge(ctx, c.OrgID, ttl)
			return got, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return got, err
		}
		got, err = scanClaim(s.DB.QueryRow(ctx, `SELECT `+claimColumns+` FROM idempotency_keys WHERE org_id = $1 AND key = $2`,
			c.OrgID, c.Key), false)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // released between the two statements: claim again
		}
		return got, err
	}
}

// purge drops a few of the organisation's expired keys, so the table stays
// at about a day of keys without a separate sweeper. Failing it loses
// nothing.
func (s Idempotency) purge(ctx context.Context, org uuid.UUID, ttl time.Duration) {
	s.DB.Exec(ctx, `DELETE FROM idempotency_keys WHERE ctid IN (
		SELECT ctid FROM idempotency_keys WHERE org_id = $1 AND created_at <= now() - $2::bigint * interval '1 millisecond' LIMIT 100)`,
		org, ms(ttl)) //nolint:errcheck
}

func (s Idempotency) TakeOver(ctx context.Context, org uuid.UUID, key string, attempt int, lease time.Duration) (accept.Claim, bool, error) {
	c, err := scanClaim(s.DB.QueryRow(ctx, `
		UPDATE idempotency_keys SET attempt = attempt + 1, lease_until = now() + $4::bigint * interval '1 millisecond'
		WHERE org_id = $1 AND key = $2 AND attempt = $3 AND state = 'PENDING' AND lease_until <= now()
		RETURNING `+claimColumns, org, key, attempt, ms(lease)), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// ErrClaimLost means another attempt took the claim over.
var ErrClaimLost = errors.New("idempotency claim taken over by another attempt")

func (s Idempotency) Complete(ctx context.Context, org uuid.UUID, key string, attempt int) error {
	tag, err := s.DB.Exec(ctx, `UPDATE idempotency_keys SET state = 'DONE', completed_at = now()
		WHERE org_id = $1 AND key = $2 AND attempt = $3`, org, key, attempt)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrClaimLost
	}
	return err
}

func (s Idempotency) Release(ctx context.Context, org uuid.UUID, key string, attempt int) error {
	_, err := s.DB.Exec(ctx, `DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND attempt = $3 AND state = 'PENDING'`,
		org, key, attempt)
	return err
}

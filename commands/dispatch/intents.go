package dispatch

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// IntentRetention is how long a claim is kept. A delivery can only be
// redelivered while it is on its queue, and queues keep deliveries for 7
// days, so older claims can never be consulted again.
const IntentRetention = 8 * 24 * time.Hour

// PGIntents keeps claims in Postgres (table dispatch_intents). The primary
// key makes a claim atomic across every dispatcher instance, including a
// zombie that lost its partitions but is still running: exactly one
// INSERT creates the row, every other caller learns the message was
// claimed.
type PGIntents struct {
	DB *pgxpool.Pool

	lastPrune atomic.Int64
}

// Claim implements Intents with one statement per batch; the statement
// commits before Claim returns, so the claims are durable before any
// provider call.
func (p *PGIntents) Claim(ctx context.Context, provider string, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	p.maybePrune(ctx)
	rows, err := p.DB.Query(ctx, `
		INSERT INTO dispatch_intents (message_id, provider)
		SELECT unnest($1::uuid[]), $2
		ON CONFLICT (message_id) DO NOTHING
		RETURNING message_id`, ids, provider)
	if err != nil {
		return nil, err
	}
	fresh := make(map[uuid.UUID]bool, len(ids))
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		fresh[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	already := map[uuid.UUID]bool{}
	for _, id := range ids {
		if !fresh[id] {
			already[id] = true
		}
	}
	return already, nil
}

// maybePrune drops expired claims about once an hour per instance; several
// instances pruning at once is harmless.
func (p *PGIntents) maybePrune(ctx context.Context) {
	now := time.Now().Unix()
	last := p.lastPrune.Load()
	if now-last < 3600 || !p.lastPrune.CompareAndSwap(last, now) {
		return
	}
	p.DB.Exec(ctx, `DELETE FROM dispatch_intents WHERE claimed_at < now() - make_interval(secs => $1)`, IntentRetention.Seconds()) //nolint:errcheck // retried next hour
}

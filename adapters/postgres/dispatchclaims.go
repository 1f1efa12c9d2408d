package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DispatchClaims keeps the dispatchers' claims (commands/dispatch.Intents)
// in Postgres (table dispatch_claims): per queue partition, the offset below which every delivery has been claimed. The
// row lock makes a claim atomic across every dispatcher instance,
// including a zombie that lost its partitions but is still running: each
// caller reads the mark as the previous claimant committed it.
//
// A mark per partition, not a row per message, because the queue is read
// in order and redelivered in order: a batch that comes back (a crash, an
// aborted transaction, a rebalance) comes back at the same offsets. That
// makes a claim one row update per batch instead of a thousand inserts.
type DispatchClaims struct {
	DB *pgxpool.Pool
}

// Claim implements commands/dispatch.Intents. The transaction commits before Claim returns,
// so the claim is durable before any provider call.
func (p *DispatchClaims) Claim(ctx context.Context, topic string, partition int32, end int64) (int64, error) {
	var claimed int64
	err := pgx.BeginFunc(ctx, p.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO dispatch_claims (topic, partition, claimed_to) VALUES ($1, $2, 0)
			ON CONFLICT (topic, partition) DO NOTHING`, topic, partition); err != nil {
			return err
		}
		// FOR UPDATE waits for a concurrent claimant and then reads its
		// committed mark, never an older one.
		if err := tx.QueryRow(ctx, `SELECT claimed_to FROM dispatch_claims WHERE topic = $1 AND partition = $2 FOR UPDATE`,
			topic, partition).Scan(&claimed); err != nil {
			return err
		}
		if end <= claimed {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE dispatch_claims SET claimed_to = $3, claimed_at = now() WHERE topic = $1 AND partition = $2`,
			topic, partition, end)
		return err
	})
	return claimed, err
}

package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RateLimiter counts requests per API key in Postgres, so every API
// instance sees the same count.
type RateLimiter struct {
	DB *pgxpool.Pool
	// Table holds the windows: rate_limit_windows (the batch endpoint)
	// when empty, message_rate_windows for Send Message.
	Table string
}

// MessageWindows is the table of Send Message's windows.
const MessageWindows = "message_rate_windows"

// Window is the state of a key's window after counting one request.
type Window struct {
	Limit   int
	Hits    int       // requests in the window, this one included
	Reset   time.Time // when the window ends
	Now     time.Time // the database's clock, which every instance shares
	Allowed bool
}

// Remaining is how many more requests the window admits.
func (w Window) Remaining() int { return max(0, w.Limit-w.Hits) }

// Take counts one request of key against limit requests per window. The
// window is fixed and starts at the first request after the previous one
// ended. A single upsert does the read-modify-write, and ON CONFLICT DO
// UPDATE locks the row, so concurrent requests on any instance serialise
// on it and never both take the last slot. Refused requests are counted
// too (they cannot extend the window: its start does not move).
func (l RateLimiter) Take(ctx context.Context, key uuid.UUID, limit int, window time.Duration) (Window, error) {
	w := Window{Limit: limit}
	var start time.Time
	table := "rate_limit_windows"
	if l.Table == MessageWindows {
		table = MessageWindows
	}
	err := l.DB.QueryRow(ctx, `
		INSERT INTO `+table+` AS w (key_id, window_start, hits) VALUES ($1, now(), 1)
		ON CONFLICT (key_id) DO UPDATE SET
			window_start = CASE WHEN w.window_start <= now() - $2::bigint * interval '1 millisecond' THEN now() ELSE w.window_start END,
			hits         = CASE WHEN w.window_start <= now() - $2::bigint * interval '1 millisecond' THEN 1 ELSE w.hits + 1 END
		RETURNING window_start, hits, now()`, key, window.Milliseconds()).Scan(&start, &w.Hits, &w.Now)
	if err != nil {
		return w, err
	}
	w.Reset = start.Add(window)
	w.Allowed = w.Hits <= limit
	return w, nil
}

package projector

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections"
)

// An event a projection cannot apply (it does not decode, PostgreSQL
// refuses what it writes, applying it panics) is parked: kept whole in
// parked_events with the error, and the projection moves on. A batch that
// fails for such a reason is applied again in halves, each under a
// savepoint, down to the single records that fail; only those are parked
// and the rest of the batch commits with its offsets. Failures that say
// nothing about the record (PostgreSQL unreachable, a serialization
// failure, a lock timeout) are not a reason to park: the batch is retried
// as before. docs/reliability-parking.md has the design.

// panicError is a panic of Apply, recovered.
type panicError struct {
	value any
	stack string
}

func (e *panicError) Error() string {
	return fmt.Sprintf("panic: %v\n%s", e.value, e.stack)
}

// isPoison reports whether err condemns the records it was raised for
// rather than the moment: a decode error, a panic, or PostgreSQL refusing
// the data (SQLSTATE classes 22 data exception, 23 integrity constraint
// violation, 54 program limit exceeded).
func isPoison(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *projections.PoisonError
	var pp *panicError
	if errors.As(err, &pe) || errors.As(err, &pp) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) == 5 {
		switch pg.Code[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}

// safeApply decodes the records and applies them, with a record that does
// not decode poisoning the batch (so that isolation parks it) and a panic
// of Apply turned into an error.
func safeApply(ctx context.Context, p projections.Projection, tx pgx.Tx, recs []*kgo.Record) (err error) {
	in := make([]events.Message, len(recs))
	for i, r := range recs {
		if in[i], err = kafkalog.DecodeMessage(r); err != nil {
			return projections.Poison(err)
		}
	}
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: string(debug.Stack())}
		}
	}()
	return p.Apply(ctx, tx, in)
}

// parkFunc records one record that cannot be applied, in tx.
type parkFunc func(ctx context.Context, tx pgx.Tx, rec *kgo.Record, cause error) error

// applyIsolating applies recs in tx under a savepoint. If that fails for a
// reason that condemns records, it applies each half the same way, so
// that in the end only the records that fail alone are handed to park,
// in log order with the others. Any other failure is returned, and tx is
// then unusable.
func applyIsolating(ctx context.Context, tx pgx.Tx, p projections.Projection, recs []*kgo.Record, park parkFunc) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	applyErr := safeApply(ctx, p, sp, recs)
	if applyErr == nil {
		return sp.Commit(ctx)
	}
	if err := sp.Rollback(ctx); err != nil {
		return errors.Join(applyErr, err)
	}
	if !isPoison(applyErr) {
		return applyErr
	}
	if len(recs) == 1 {
		return park(ctx, tx, recs[0], applyErr)
	}
	mid := len(recs) / 2
	if err := applyIsolating(ctx, tx, p, recs[:mid], park); err != nil {
		return err
	}
	return applyIsolating(ctx, tx, p, recs[mid:], park)
}

// maxParkedError bounds the error text kept with a parked event.
const maxParkedError = 4000

// storableError is err's text as PostgreSQL can store it: an error may
// quote the very bytes that made the record fail.
func storableError(err error) string {
	s := strings.ToValidUTF8(err.Error(), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", `\x00`)
	if len(s) > maxParkedError {
		s = strings.ToValidUTF8(s[:maxParkedError], "") + "…"
	}
	return s
}

// parkIn returns a parkFunc that stores records of projection name in
// parked_events, and calls parked (when set) for each.
func parkIn(name string, parked func(string)) parkFunc {
	return func(ctx context.Context, tx pgx.Tx, rec *kgo.Record, cause error) error {
		keys, vals := make([][]byte, len(rec.Headers)), make([][]byte, len(rec.Headers))
		for i, h := range rec.Headers {
			keys[i], vals[i] = []byte(h.Key), h.Value
			if vals[i] == nil {
				vals[i] = []byte{}
			}
		}
		ts := rec.Timestamp
		if ts.IsZero() {
			ts = time.Unix(0, 0)
		}
		_, err := tx.Exec(ctx, `INSERT INTO public.parked_events (projection, topic, "partition", "offset",
				record_key, record_value, header_keys, header_values, record_time, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (projection, topic, "partition", "offset") DO UPDATE
				SET error = EXCLUDED.error, last_seen = now(), attempts = parked_events.attempts + 1`,
			name, rec.Topic, rec.Partition, rec.Offset, rec.Key, rec.Value, keys, vals, ts, storableError(cause))
		if err != nil {
			return fmt.Errorf("park %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		if parked != nil {
			parked(name)
		}
		return nil
	}
}

// ParkedEvent is a record a projection could not apply.
type ParkedEvent struct {
	ID         int64
	Projection string
	Topic      string
	Partition  int32
	Offset     int64
	Record     *kgo.Record
	Error      string
	FirstSeen  time.Time
	LastSeen   time.Time
	Attempts   int
}

// ParkedFilter selects parked events: all of them, or those of one
// projection, or those with the given ids.
type ParkedFilter struct {
	Projection string
	IDs        []int64
}

// ListParked returns the parked events that match f, oldest first.
func ListParked(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, f ParkedFilter) ([]ParkedEvent, error) {
	rows, err := db.Query(ctx, `SELECT id, projection, topic, "partition", "offset", record_key, record_value,
			header_keys, header_values, record_time, error, first_seen, last_seen, attempts
		FROM parked_events
		WHERE ($1 = '' OR projection = $1) AND (coalesce(cardinality($2::bigint[]), 0) = 0 OR id = ANY($2))
		ORDER BY id`, f.Projection, f.IDs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ParkedEvent, error) {
		var e ParkedEvent
		var key, val []byte
		var hk, hv [][]byte
		var ts time.Time
		if err := row.Scan(&e.ID, &e.Projection, &e.Topic, &e.Partition, &e.Offset, &key, &val, &hk, &hv, &ts,
			&e.Error, &e.FirstSeen, &e.LastSeen, &e.Attempts); err != nil {
			return e, err
		}
		r := &kgo.Record{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, Key: key, Value: val, Timestamp: ts}
		for i := range hk {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(hk[i]), Value: hv[i]})
		}
		e.Record = r
		return e, nil
	})
}

// ParkedCounts is the number of parked events per projection.
func ParkedCounts(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (map[string]int64, error) {
	rows, err := db.Query(ctx, `SELECT projection, count(*) FROM parked_events GROUP BY projection`)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var name string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[name] = n
		return nil
	})
	return out, err
}

// RetryResult says what RetryParked did with each event it tried.
type RetryResult struct {
	Applied []ParkedEvent // applied, and no longer parked
	Failed  []ParkedEvent // still failing; Error is the new error
}

// RetryParked applies the parked events that match f again, each in its
// own transaction on the live generation of its projection, removing those
// that now apply and recording the new error of those that still fail.
// Events of a projection not in projs are left alone. A failure that is
// not the event's (PostgreSQL unreachable) stops the retry.
//
// Applying an event late is sound for the projections here, whose
// statements are idempotent upserts and guarded status moves; an event
// whose effect a later event of the same campaign has superseded changes
// nothing (docs/reliability-parking.md).
func RetryParked(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, projs map[string]projections.Projection, f ParkedFilter) (RetryResult, error) {
	var res RetryResult
	evs, err := ListParked(ctx, db, f)
	if err != nil {
		return res, err
	}
	for _, ev := range evs {
		p, ok := projs[ev.Projection]
		if !ok {
			continue
		}
		applied, err := retryOne(ctx, db, p, ev)
		if err != nil {
			return res, fmt.Errorf("parked event %d: %w", ev.ID, err)
		}
		if applied == nil {
			res.Applied = append(res.Applied, ev)
		} else {
			ev.Error = storableError(applied)
			ev.Attempts++
			res.Failed = append(res.Failed, ev)
		}
	}
	return res, nil
}

// retryOne applies one parked event; the returned cause is non-nil when
// it still cannot be applied (and is still parked), err when the attempt
// itself failed.
func retryOne(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, p projections.Projection, ev ParkedEvent) (cause, err error) {
	tx, _, err := beginWrite(ctx, db, p.Name(), shared)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	err = applyIsolating(ctx, tx, p, []*kgo.Record{ev.Record}, func(ctx context.Context, tx pgx.Tx, _ *kgo.Record, c error) error {
		cause = c
		_, err := tx.Exec(ctx, `UPDATE public.parked_events SET error = $2, last_seen = now(), attempts = attempts + 1 WHERE id = $1`,
			ev.ID, storableError(c))
		return err
	})
	if err != nil {
		return nil, err
	}
	if cause == nil {
		if _, err := tx.Exec(ctx, `DELETE FROM public.parked_events WHERE id = $1`, ev.ID); err != nil {
			return nil, err
		}
	}
	return cause, tx.Commit(ctx)
}

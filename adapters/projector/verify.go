package projector

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// TableDiff compares one table of the live generation with its replay.
type TableDiff struct {
	Table string
	Rows  int64 // in the live table
	// OnlyLive and OnlyReplayed count rows (as whole tuples, duplicates
	// included) found on one side and not the other; a changed row counts
	// once on each side.
	OnlyLive, OnlyReplayed int64
	// Samples of those rows, as JSON.
	SampleLive, SampleReplayed []string
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Projection string
	Live       string // schema of the live generation
	Events     int64  // events replayed
	// Unapplicable is how many replayed events could not be applied (the
	// live projector parks those: see ParkedEvent).
	Unapplicable int64
	Tables       []TableDiff
	Took         time.Duration
}

// Clean reports whether the replay matched the live read model exactly.
func (r VerifyReport) Clean() bool {
	for _, t := range r.Tables {
		if t.OnlyLive != 0 || t.OnlyReplayed != 0 {
			return false
		}
	}
	return true
}

func (r VerifyReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: replayed %d events against live generation %s in %s\n", r.Projection, r.Events, r.Live, r.Took.Round(time.Millisecond))
	if r.Unapplicable > 0 {
		fmt.Fprintf(&b, "  %d events could not be applied (see `ziett projections parked`)\n", r.Unapplicable)
	}
	for _, t := range r.Tables {
		state := "identical"
		if t.OnlyLive != 0 || t.OnlyReplayed != 0 {
			state = fmt.Sprintf("DIFFERENT: %d rows only in live, %d only in replay", t.OnlyLive, t.OnlyReplayed)
		}
		fmt.Fprintf(&b, "  %-20s %8d rows  %s\n", t.Table, t.Rows, state)
		for _, s := range t.SampleLive {
			fmt.Fprintf(&b, "    live:   %s\n", s)
		}
		for _, s := range t.SampleReplayed {
			fmt.Fprintf(&b, "    replay: %s\n", s)
		}
	}
	return b.String()
}

// sampleRows is how many differing rows a report shows per side.
const sampleRows = 5

// Verify replays the log into scratch tables up to exactly the live
// projector's position and compares them with the live read model. The
// projector waits only while the last records are applied; the comparison
// runs on a snapshot taken at that position.
func (b *Rebuilder) Verify(ctx context.Context) (VerifyReport, error) {
	start := time.Now()
	rep := VerifyReport{Projection: b.cfg.Projection.Name()}
	b.verifying = true
	b.skipped.Store(0)
	defer func() { b.verifying = false }()
	release, err := b.exclusiveRun(ctx)
	if err != nil {
		return rep, err
	}
	defer release()
	live, err := b.liveGeneration(ctx)
	if err != nil {
		return rep, err
	}
	rep.Live = live.schema
	scratch := "rm_" + b.cfg.Projection.Name() + "_verify"
	if err := b.createGeneration(ctx, live, scratch); err != nil {
		return rep, err
	}
	defer b.dropSchema(scratch)

	// Replay up to where the live projector is now, so the scratch copy is
	// never ahead of it; the rest is caught up below, with it held off.
	target, err := readPosition(ctx, b.cfg.Pool, live.schema, b.cfg.Projection.Name())
	if err != nil {
		return rep, err
	}
	if rep.Events, err = b.replay(ctx, scratch, target, false); err != nil {
		return rep, err
	}

	hold, schema, err := beginWrite(ctx, b.cfg.Pool, b.cfg.Projection.Name(), exclusive)
	if err != nil {
		return rep, err
	}
	defer hold.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if schema != live.schema {
		return rep, fmt.Errorf("the live generation moved to %s during the verify", schema)
	}
	catch, err := b.cfg.Pool.Begin(ctx)
	if err != nil {
		return rep, err
	}
	n, err := b.catchUp(ctx, catch, live.schema, scratch)
	if err != nil {
		catch.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
		return rep, err
	}
	if err := catch.Commit(ctx); err != nil {
		return rep, err
	}
	rep.Events += n
	// The snapshot is taken while the projector is still held off: it sees
	// both generations at the same log position.
	snap, err := b.cfg.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, err
	}
	defer snap.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	livePos, err := readPosition(ctx, snap, live.schema, b.cfg.Projection.Name())
	if err != nil {
		return rep, err
	}
	if err := hold.Commit(ctx); err != nil {
		return rep, err
	}
	scratchPos, err := readPosition(ctx, snap, scratch, b.cfg.Projection.Name())
	if err != nil {
		return rep, err
	}
	if !samePosition(livePos, scratchPos) {
		return rep, fmt.Errorf("replay stopped at a different position (%v) from the live read model (%v)", scratchPos, livePos)
	}
	for _, t := range live.tables {
		d, err := compareTable(ctx, snap, live.schema, scratch, t)
		if err != nil {
			return rep, err
		}
		rep.Tables = append(rep.Tables, d)
	}
	rep.Unapplicable = b.skipped.Load()
	rep.Took = time.Since(start)
	return rep, nil
}

func samePosition(a, b position) bool {
	for t, ps := range a {
		for p, o := range ps {
			if x, _ := b.get(t, p); x != o {
				return false
			}
		}
	}
	for t, ps := range b {
		for p, o := range ps {
			if x, _ := a.get(t, p); x != o {
				return false
			}
		}
	}
	return true
}

func compareTable(ctx context.Context, tx pgx.Tx, liveSchema, scratch, table string) (TableDiff, error) {
	d := TableDiff{Table: table}
	l, s := pgx.Identifier{liveSchema, table}.Sanitize(), pgx.Identifier{scratch, table}.Sanitize()
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+l).Scan(&d.Rows); err != nil {
		return d, err
	}
	side := func(a, b string, count *int64, samples *[]string) error {
		diff := `(SELECT * FROM ` + a + ` EXCEPT ALL SELECT * FROM ` + b + `) AS d`
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+diff).Scan(count); err != nil {
			return fmt.Errorf("compare %s: %w", table, err)
		}
		if *count == 0 {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT row_to_json(d)::text FROM `+diff+` LIMIT `+fmt.Sprint(sampleRows))
		if err != nil {
			return err
		}
		*samples, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}
	if err := side(l, s, &d.OnlyLive, &d.SampleLive); err != nil {
		return d, err
	}
	return d, side(s, l, &d.OnlyReplayed, &d.SampleReplayed)
}

package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A read model that can be rebuilt lives in a generation: a schema holding
// its tables and its own projection_offsets. The read_models table points
// at the live generation, and views in public select from it, so readers
// never name a generation. A projection without a read_models row writes
// to public, offsets included.
//
// Writers (Runner batches) hold a shared advisory lock on the projection
// for their transaction; a generation switch takes it exclusively. The
// switch therefore sees no batch half done, and every batch after it
// writes to the new generation.

// lockClass namespaces the projections' advisory locks (the two-key form,
// whose key space is apart from the migrations' one-key lock).
const lockClass = 0x7a6970 // "zip"

// Lock modes of beginWrite.
const (
	shared    = false
	exclusive = true
)

// beginWrite opens a transaction that writes to the live generation of
// projection name: its tables come first on the search path, and the
// returned schema is where its offsets are.
func beginWrite(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, name string, mode bool) (pgx.Tx, string, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, "", err
	}
	fail := func(err error) (pgx.Tx, string, error) {
		tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
		return nil, "", err
	}
	lock := `SELECT pg_advisory_xact_lock_shared($1, hashtext($2))`
	if mode == exclusive {
		lock = `SELECT pg_advisory_xact_lock($1, hashtext($2))`
	}
	if _, err := tx.Exec(ctx, lock, lockClass, name); err != nil {
		return fail(err)
	}
	schema, err := liveSchema(ctx, tx, name)
	if err != nil {
		return fail(err)
	}
	if err := setSearchPath(ctx, tx, schema); err != nil {
		return fail(err)
	}
	return tx, schema, nil
}

// liveSchema is the schema of the projection's live generation, or public
// for a projection that has no generations.
func liveSchema(ctx context.Context, q pgx.Tx, name string) (string, error) {
	var schema string
	err := q.QueryRow(ctx, `SELECT schema_name FROM read_models WHERE name = $1`, name).Scan(&schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return "public", nil
	}
	if err != nil {
		return "", fmt.Errorf("read_models: %w", err)
	}
	return schema, nil
}

// setSearchPath makes the projection's unqualified table names resolve to
// schema for the rest of the transaction; public stays behind it for
// shared tables (an outbox written by a change hook, say).
func setSearchPath(ctx context.Context, tx pgx.Tx, schema string) error {
	path := pgx.Identifier{schema}.Sanitize()
	if schema != "public" {
		path += ", public"
	}
	_, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, path)
	return err
}

// offsetsTable is the qualified name of a generation's offsets.
func offsetsTable(schema string) string {
	return pgx.Identifier{schema, "projection_offsets"}.Sanitize()
}

// position is the next offset to apply, per topic and partition.
type position map[string]map[int32]int64

func (p position) set(topic string, partition int32, next int64) {
	if p[topic] == nil {
		p[topic] = map[int32]int64{}
	}
	p[topic][partition] = next
}

func (p position) get(topic string, partition int32) (int64, bool) {
	o, ok := p[topic][partition]
	return o, ok
}

// readPosition loads a generation's offsets.
func readPosition(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, schema, name string) (position, error) {
	rows, err := q.Query(ctx, `SELECT topic, partition, next_offset FROM `+offsetsTable(schema)+` WHERE projection = $1`, name)
	if err != nil {
		return nil, err
	}
	pos := position{}
	var topic string
	var part int32
	var next int64
	_, err = pgx.ForEachRow(rows, []any{&topic, &part, &next}, func() error {
		pos.set(topic, part, next)
		return nil
	})
	return pos, err
}

// Package postgres connects to PostgreSQL and keeps its schema current.
package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/schemas"
)

// Open connects a pool and applies pending migrations.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := Connect(ctx, url, 16)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Connect opens a pool of at least minConns connections (more when the URL
// asks for more) whose connections send uuids in binary (RegisterUUID).
func Connect(ctx context.Context, url string, minConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = max(cfg.MaxConns, minConns)
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		RegisterUUID(c.TypeMap())
		return nil
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// renamed maps the names under which databases created by earlier versions
// recorded migrations to their current names. Migration numbers were once
// reused (two 0002s, two 0004s); they were renumbered to be unique and
// increasing, in the order they had always been applied, so a database that
// applied them under the old names only has its records renamed.
var renamed = map[string]string{
	"migrations/0002_ledger.sql":                        "migrations/0003_ledger.sql",
	"migrations/0003_read_model_generations.sql":        "migrations/0004_read_model_generations.sql",
	"migrations/0004_dispatch_intents.sql":              "migrations/0005_dispatch_intents.sql",
	"migrations/0004_webhooks.sql":                      "migrations/0006_webhooks.sql",
	"migrations/0005_messages_hot_updates.sql":          "migrations/0007_messages_hot_updates.sql",
	"migrations/0006_completion_after_outcomes.sql":     "migrations/0008_completion_after_outcomes.sql",
	"migrations/0007_messages_without_id_index.sql":     "migrations/0009_messages_without_id_index.sql",
	"migrations/0008_dispatch_claims.sql":               "migrations/0010_dispatch_claims.sql",
	"migrations/0009_drop_completion_pending_index.sql": "migrations/0011_drop_completion_pending_index.sql",
}

// MigrationNames lists the embedded migrations in the order they apply, and
// refuses a set in which two migrations share a number: the number alone
// orders them, so a reused one would make the order depend on the rest of
// the name.
func MigrationNames() ([]string, error) {
	names, err := fs.Glob(schemas.Migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, checkNumbers(names)
}

// checkNumbers requires every name to start with a number (after the
// folder) that is unique and increasing.
func checkNumbers(names []string) error {
	seen := map[string]string{}
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		if !ok || num == "" || strings.Trim(num, "0123456789") != "" {
			return fmt.Errorf("migration %s: name must be NNNN_description.sql", n)
		}
		if other, dup := seen[num]; dup {
			return fmt.Errorf("migrations %s and %s share the number %s", other, n, num)
		}
		seen[num] = n
	}
	return nil
}

// Migrate applies the embedded migrations in name order, each once. An
// advisory lock serialises instances that start together.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	const lock = 0x7a6965747401 // "ziett" + 1
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lock); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lock) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	names, err := MigrationNames()
	if err != nil {
		return err
	}
	for old, cur := range renamed {
		if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET name = $2 WHERE name = $1`, old, cur); err != nil {
			return err
		}
	}
	for _, n := range names {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, n).Scan(&done); err != nil {
			return err
		}
		if done {
			continue
		}
		sql, err := fs.ReadFile(schemas.Migrations, n)
		if err != nil {
			return err
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			tx.Rollback(ctx) //nolint:errcheck
			return fmt.Errorf("migration %s: %w", n, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, n); err != nil {
			tx.Rollback(ctx) //nolint:errcheck
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

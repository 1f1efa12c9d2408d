package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/schemas"
)

var pg *pgcluster.Cluster

func TestMain(m *testing.M) {
	c, cleanup, err := pgcluster.SharedForTests()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = c
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func TestMigrationNumbers(t *testing.T) {
	if _, err := MigrationNames(); err != nil {
		t.Fatalf("the shipped migrations: %v", err)
	}
	for _, tc := range []struct {
		name  string
		names []string
		ok    bool
	}{
		{"unique increasing numbers pass", []string{"migrations/0001_a.sql", "migrations/0002_b.sql", "migrations/0010_c.sql"}, true},
		{"a reused number is refused", []string{"migrations/0001_a.sql", "migrations/0002_b.sql", "migrations/0002_c.sql"}, false},
		{"a name without a number is refused", []string{"migrations/0001_a.sql", "migrations/init.sql"}, false},
		{"a name without a description is refused", []string{"migrations/0001.sql"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkNumbers(tc.names)
			if (err == nil) != tc.ok {
				t.Fatalf("checkNumbers(%v) = %v, want ok=%v", tc.names, err, tc.ok)
			}
		})
	}
}

func TestRenamedMigrationsExist(t *testing.T) {
	names, err := MigrationNames()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for old, cur := range renamed {
		if !have[cur] {
			t.Errorf("%s is renamed to %s, which does not exist", old, cur)
		}
		if have[old] {
			t.Errorf("%s is both a current migration and an old name", old)
		}
	}
}

// A database that applied the migrations under their old, partly reused
// numbers (as every data directory made before the renumbering did) migrates
// forward: nothing is applied twice and its data stays.
func TestDatabaseFromOldNamesMigratesForward(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, err := pg.FreshDatabase(ctx, "oldnames")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := Connect(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// Apply the migrations the way the earlier runner did: under the old
	// names, in the old names' order.
	oldName := map[string]string{}
	for old, cur := range renamed {
		oldName[cur] = old
	}
	names, err := fs.Glob(schemas.Migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	type mig struct{ recorded, file string }
	var old []mig
	for _, n := range names {
		if o, ok := oldName[n]; ok {
			old = append(old, mig{o, n})
		} else if n < "migrations/0012" {
			old = append(old, mig{n, n})
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].recorded < old[j].recorded })
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range old {
		sql, err := fs.ReadFile(schemas.Migrations, m.file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("old migration %s: %v", m.recorded, err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, m.recorded); err != nil {
			t.Fatal(err)
		}
	}
	org := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO organisations (org_id, name, currency) VALUES ($1, 'Kept', 'AOA')`, org); err != nil {
		t.Fatal(err)
	}

	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("migrating a database made under the old names: %v", err)
	}
	var name string
	if err := pool.QueryRow(ctx, `SELECT name FROM organisations WHERE org_id = $1`, org).Scan(&name); err != nil || name != "Kept" {
		t.Fatalf("organisation after migrating: %q, %v", name, err)
	}
	rows, err := pool.Query(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(recorded, "\n"), strings.Join(names, "\n"); got != want {
		t.Fatalf("recorded migrations:\n%s\nwant the current names:\n%s", got, want)
	}
	// A second run finds nothing to do.
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
}

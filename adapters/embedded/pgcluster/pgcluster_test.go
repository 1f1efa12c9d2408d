package pgcluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// tempDir is t.TempDir made reachable for the unprivileged server user when
// the tests run as root (t.TempDir is 0700).
func tempDir(t *testing.T) string {
	t.Helper()
	parent := ""
	if os.Geteuid() == 0 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, ctx context.Context, opts Options) *Cluster {
	t.Helper()
	opts.Logf = t.Logf
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func queryInt(t *testing.T, ctx context.Context, url, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatalf("%s on %s: %v", sql, url, err)
	}
	return n
}

func execSQL(t *testing.T, ctx context.Context, url string, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s on %s: %v", sql, url, err)
	}
}

func TestEphemeralClusterServesSeparateDatabases(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := start(t, ctx, Options{Dir: tempDir(t), Ephemeral: true})

	for _, db := range []string{"alpha", "beta"} {
		if err := c.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
		// A second create must be a no-op, not an error.
		if err := c.CreateDatabase(ctx, db); err != nil {
			t.Fatalf("second CreateDatabase(%s): %v", db, err)
		}
		if n := queryInt(t, ctx, c.URL(db), "select 1"); n != 1 {
			t.Fatalf("select 1 on %s returned %d", db, n)
		}
	}
	// The databases are really distinct, not two names for one.
	execSQL(t, ctx, c.URL("alpha"), "create table only_in_alpha (id int)")
	if n := queryInt(t, ctx, c.URL("beta"), "select count(*) from pg_tables where tablename = 'only_in_alpha'"); n != 0 {
		t.Fatal("table created in alpha is visible in beta")
	}
	if n := queryInt(t, ctx, c.URL("alpha"), "select count(*) from pg_settings where name = 'fsync' and setting = 'off'"); n != 1 {
		t.Fatal("ephemeral cluster runs with fsync on")
	}
	if n := queryInt(t, ctx, c.URL("alpha"), "select current_setting('max_connections')::int"); n != 200 {
		t.Fatalf("max_connections = %d, want 200", n)
	}

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := pgx.Connect(ctx, c.URL("alpha")); err == nil {
		t.Fatal("server still accepts connections after Stop")
	}
}

func TestPersistentClusterKeepsDataAndPortAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := tempDir(t)

	c := start(t, ctx, Options{Dir: dir})
	if err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	execSQL(t, ctx, c.URL("app"), "create table survivors (name text); insert into survivors values ('kept')")
	if n := queryInt(t, ctx, c.URL("app"), "select count(*) from pg_settings where name = 'fsync' and setting = 'on'"); n != 1 {
		t.Fatal("persistent cluster runs with fsync off")
	}
	firstPort := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	c = start(t, ctx, Options{Dir: dir})
	if c.Port() != firstPort {
		t.Fatalf("restart moved from port %d to %d; dev URLs must stay stable", firstPort, c.Port())
	}
	if n := queryInt(t, ctx, c.URL("app"), "select count(*) from survivors where name = 'kept'"); n != 1 {
		t.Fatalf("survivors has %d matching rows after restart, want 1", n)
	}
}

// A `ziett dev` killed without Stop leaves its server running; the next
// Start must take over rather than fail on the busy port or data dir.
func TestStartTakesOverServerLeftRunning(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := tempDir(t)

	abandoned := start(t, ctx, Options{Dir: dir, Ephemeral: true})
	execSQL(t, ctx, abandoned.URL("postgres"), "create table marker (id int)")

	c := start(t, ctx, Options{Dir: dir, Ephemeral: true})
	if c.Port() != abandoned.Port() {
		t.Fatalf("took over on port %d, want the recorded %d", c.Port(), abandoned.Port())
	}
	if n := queryInt(t, ctx, c.URL("postgres"), "select count(*) from pg_tables where tablename = 'marker'"); n != 1 {
		t.Fatal("data from the abandoned server is missing")
	}
}

// The recorded port is only a preference: if another program took it while
// we were down, starting on a new port beats refusing to start.
func TestRecordedPortTakenByAnotherProgram(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := tempDir(t)

	c := start(t, ctx, Options{Dir: dir, Ephemeral: true})
	oldPort := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	squatter, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(oldPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()

	c = start(t, ctx, Options{Dir: dir, Ephemeral: true})
	if c.Port() == oldPort {
		t.Fatal("started on a port another program holds")
	}
	if n := queryInt(t, ctx, c.URL("postgres"), "select 1"); n != 1 {
		t.Fatal("select 1 failed")
	}
	raw, err := os.ReadFile(filepath.Join(dir, portFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(c.Port()) {
		t.Fatalf("recorded port %s, want the new %d", got, c.Port())
	}
}

func TestRootUnreachableDirIsAClearError(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	t.Parallel()
	locked := tempDir(t)
	if err := os.Chmod(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(testContext(t), Options{Dir: filepath.Join(locked, "cluster")})
	if err == nil || !strings.Contains(err.Error(), "not traversable") {
		t.Fatalf("Start under a root-only directory: %v", err)
	}
}

func TestExplicitPortIsUsedAndNotRecorded(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := tempDir(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, ctx, Options{Dir: dir, Port: port, Ephemeral: true})
	if !strings.Contains(c.URL("x"), ":"+strconv.Itoa(port)+"/x") {
		t.Fatalf("URL %s does not use port %d", c.URL("x"), port)
	}
	if n := queryInt(t, ctx, c.URL("postgres"), "select 1"); n != 1 {
		t.Fatal("select 1 failed")
	}
	if _, err := os.Stat(filepath.Join(dir, portFile)); !os.IsNotExist(err) {
		t.Fatalf("explicit port was recorded in %s (stat err %v)", portFile, err)
	}
}

func TestSharedForTestsGivesEachTestItsOwnDatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	ctx := testContext(t)

	c, cleanup, err := SharedForTests()
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Dir()
	t.Cleanup(func() {
		cleanup()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cleanup left %s behind", dir)
		}
	})

	urlA, err := c.FreshDatabase(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	urlB, err := c.FreshDatabase(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	if urlA == urlB {
		t.Fatalf("FreshDatabase returned %s twice", urlA)
	}
	execSQL(t, ctx, urlA, "create table t (id int)")
	if n := queryInt(t, ctx, urlB, "select count(*) from pg_tables where tablename = 't'"); n != 0 {
		t.Fatal("fresh databases share tables")
	}

	// With DATABASE_URL pointing at that server, the harness must wrap it
	// instead of starting another one, and leave it running on cleanup.
	t.Setenv("DATABASE_URL", c.URL("postgres"))
	w, wcleanup, err := SharedForTests()
	if err != nil {
		t.Fatal(err)
	}
	if w.Port() != c.Port() || w.Dir() != "" {
		t.Fatalf("wrapped cluster on port %d dir %q, want port %d and no dir", w.Port(), w.Dir(), c.Port())
	}
	urlC, err := w.FreshDatabase(ctx, "wrapped")
	if err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, ctx, urlC, "select 1"); n != 1 {
		t.Fatal("select 1 failed on wrapped server")
	}
	wcleanup()
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, ctx, urlA, "select 1"); n != 1 {
		t.Fatal("wrapped cleanup stopped the real server")
	}
}

func TestSharedForTestsRejectsKeywordDSN(t *testing.T) {
	t.Setenv("DATABASE_URL", "host=localhost dbname=app")
	if _, _, err := SharedForTests(); err == nil {
		t.Fatal("keyword/value DATABASE_URL accepted")
	}
}

func TestSanitizePrefix(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"TestFoo/sub case", 40, "testfoo_sub_case"},
		{"", 40, "test"},
		{"abcdefgh", 5, "abcde"},
	}
	for _, tc := range cases {
		if got := sanitizePrefix(tc.in, tc.max); got != tc.want {
			t.Errorf("sanitizePrefix(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestVersionLess(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"9.6", "15", true},
		{"15", "9.6", false},
		{"13", "15", true},
		{"15", "15", false},
	}
	for _, tc := range cases {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestHighestVersionDirPrefersNewestCompleteServer(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "13", "15", "16"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		names := serverBinaries
		if v == "16" {
			names = []string{"pg_dump"} // client-only install
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(bin, n), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, want := highestVersionDir(root), filepath.Join(root, "15", "bin"); got != want {
		t.Fatalf("highestVersionDir = %s, want %s", got, want)
	}
}

func TestBadPGBINIsAnError(t *testing.T) {
	t.Setenv("PG_BIN", t.TempDir())
	if _, err := findBinDir(); err == nil || !strings.Contains(err.Error(), "PG_BIN") {
		t.Fatalf("findBinDir with empty PG_BIN dir: %v", err)
	}
}

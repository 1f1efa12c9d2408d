// Package pgcluster runs a private PostgreSQL cluster from the machine's own
// PostgreSQL binaries: a persistent one for `ziett dev` and throwaway ones
// for tests. The server listens on 127.0.0.1 over TCP only; without a unix
// socket there is no socket-path length limit (~107 bytes) to trip over on
// deep working directories, and no clash with a system cluster's socket.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options configures Start.
type Options struct {
	// Dir holds everything: pgdata/, postgres.log and the port file. It is
	// created if missing and reused as is if it already holds a cluster.
	Dir string
	// Port to listen on; 0 reuses the port recorded in Dir by the previous
	// start, or picks a free one, so dev URLs stay stable across restarts.
	Port int
	// Ephemeral trades crash safety for speed (fsync off and friends). Only
	// for clusters whose data may be lost, i.e. tests.
	Ephemeral bool
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Cluster is a running server started by Start, or an existing server
// wrapped by SharedForTests.
type Cluster struct {
	dir     string
	dataDir string
	binDir  string
	port    int
	user    *runAs
	logf    func(string, ...any)

	// external is set when the cluster wraps a server we do not manage.
	external *url.URL

	mu      sync.Mutex
	stopped bool
}

const (
	host            = "127.0.0.1"
	superuser       = "postgres"
	maintenanceDB   = "postgres"
	portFile        = "port"
	logFile         = "postgres.log"
	dataSubdir      = "pgdata"
	startAttempts   = 3
	logTailMaxBytes = 4096
)

// Start brings up the cluster in opts.Dir, running initdb first when the
// directory holds none yet.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	u, err := serverUser()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:     dir,
		dataDir: filepath.Join(dir, dataSubdir),
		binDir:  binDir,
		user:    u,
		logf:    opts.Logf,
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if u != nil {
		if err := u.checkTraversable(dir); err != nil {
			return nil, err
		}
		if err := u.chownTree(dir); err != nil {
			return nil, fmt.Errorf("pgcluster: handing %s to user %s: %w", dir, u.name, err)
		}
		c.logf("pgcluster: running as root, so PostgreSQL runs as user %s", u.name)
	}

	if err := c.initdb(ctx); err != nil {
		return nil, err
	}
	// A previous run of ours that died without Stop leaves its server
	// holding the data dir and the port; restart it so the settings below
	// apply and we own the process.
	if c.running(ctx) {
		c.logf("pgcluster: stopping a server left running in %s", c.dataDir)
		if out, err := c.pgCtl(ctx, "stop", "-m", "fast", "-w"); err != nil {
			return nil, fmt.Errorf("pgcluster: stopping leftover server: %w: %s", err, out)
		}
	}

	port, fresh, err := c.choosePort(opts.Port)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		c.port = port
		err := c.start(ctx, opts.Ephemeral)
		if err == nil {
			break
		}
		// A port picked by us can be grabbed by someone else before the
		// server binds it; any other failure is not worth retrying.
		if !fresh || attempt == startAttempts || !errors.Is(err, errPortInUse) {
			return nil, err
		}
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if opts.Port == 0 {
		if err := c.savePort(); err != nil {
			_ = c.Stop()
			return nil, err
		}
	}
	c.logf("pgcluster: PostgreSQL from %s listening on %s:%d (data in %s)", binDir, host, c.port, c.dataDir)
	return c, nil
}

// Dir is the directory given to Start; empty for a wrapped server.
func (c *Cluster) Dir() string { return c.dir }

// Port the server listens on.
func (c *Cluster) Port() int {
	if c.external != nil {
		p, _ := strconv.Atoi(c.external.Port())
		return p
	}
	return c.port
}

// URL returns a connection URL for database db.
func (c *Cluster) URL(db string) string {
	if c.external != nil {
		u := *c.external
		u.Path = "/" + db
		u.RawPath = ""
		return u.String()
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort(host, strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates database name unless it already exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.adminURL())
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	err = conn.QueryRow(ctx, "select exists(select 1 from pg_database where datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if exists {
		return nil
	}
	// CREATE DATABASE has no IF NOT EXISTS, so a concurrent creator can win
	// between the check and here; its duplicate_database error means done.
	_, err = conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: creating database %q: %w", name, err)
	}
	return nil
}

// adminURL is where CREATE DATABASE is issued from. For a wrapped server
// that is the database DATABASE_URL names, which its user can surely reach,
// unlike "postgres".
func (c *Cluster) adminURL() string {
	if c.external != nil && strings.Trim(c.external.Path, "/") != "" {
		return c.external.String()
	}
	return c.URL(maintenanceDB)
}

// Stop shuts the server down (fast mode: open sessions are disconnected).
// It is a no-op for a wrapped server and on repeated calls.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.external != nil || c.stopped {
		return nil
	}
	out, err := c.pgCtl(context.Background(), "stop", "-m", "fast", "-w")
	if err != nil && c.running(context.Background()) {
		return fmt.Errorf("pgcluster: stopping server: %w: %s", err, out)
	}
	// Failing only because the server was already gone (someone stopped it
	// or it crashed) still leaves the caller with what it asked for.
	c.stopped = true
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return c.checkVersion(ctx)
	}
	c.logf("pgcluster: initdb %s", c.dataDir)
	out, err := c.command(ctx, "initdb", "-D", c.dataDir, "-A", "trust", "-U", superuser, "-E", "UTF8", "--no-locale").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: initdb: %w: %s", err, out)
	}
	return nil
}

// checkVersion turns "data from another major version" into a clear error
// up front; postgres only says so in its log after pg_ctl gave up.
func (c *Cluster) checkVersion(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(c.dataDir, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	dataVersion := strings.TrimSpace(string(raw))
	out, err := c.command(ctx, "postgres", "--version").Output()
	if err != nil {
		return nil // let the start itself report what is wrong
	}
	// "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return nil
	}
	binVersion := fields[2]
	if binVersion != dataVersion && !strings.HasPrefix(binVersion, dataVersion+".") {
		return fmt.Errorf("pgcluster: %s was created by PostgreSQL %s but the binaries in %s are %s; "+
			"remove %s (its data is lost) or point PG_BIN at PostgreSQL %s",
			c.dataDir, dataVersion, c.binDir, binVersion, c.dir, dataVersion)
	}
	return nil
}

var errPortInUse = errors.New("port already in use")

func (c *Cluster) start(ctx context.Context, ephemeral bool) error {
	settings := []string{
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=" + host,
		// pg_ctl hands -o to /bin/sh, so '' arrives as an empty value.
		"-c", "unix_socket_directories=''",
		"-c", "max_connections=200",
		"-c", "shared_buffers=256MB",
	}
	if ephemeral {
		settings = append(settings,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			// Fewer checkpoints during bulk writes (a rebuild, the
			// benchmark): nothing here is recovered from the WAL anyway.
			"-c", "max_wal_size=4GB",
			"-c", "checkpoint_timeout=30min",
		)
	}
	logPath := filepath.Join(c.dir, logFile)
	var logStart int64
	if st, err := os.Stat(logPath); err == nil {
		logStart = st.Size()
	}
	out, err := c.pgCtl(ctx, "start", "-w", "-l", logPath, "-o", strings.Join(settings, " "))
	if err == nil {
		return nil
	}
	tail := readFrom(logPath, logStart)
	if strings.Contains(tail, "Address already in use") {
		err = fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return fmt.Errorf("pgcluster: starting server on port %d: %w\n%s\n%s: %s", c.port, err, bytes.TrimSpace(out), logPath, tail)
}

// running asks pg_ctl, which checks the pid in postmaster.pid, so a stale
// file left by a killed server does not count.
func (c *Cluster) running(ctx context.Context) bool {
	_, err := c.pgCtl(ctx, "status")
	return err == nil
}

func (c *Cluster) pgCtl(ctx context.Context, args ...string) ([]byte, error) {
	return c.command(ctx, "pg_ctl", append([]string{"-D", c.dataDir}, args...)...).CombinedOutput()
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	// The server user may not be able to enter our working directory, and
	// initdb and postgres resolve it at startup.
	cmd.Dir = c.dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = c.user.sysProcAttr()
	return cmd
}

// serverEnv drops libpq's PG* variables, which would otherwise steer pg_ctl
// (PGDATA, PGPORT, ...) towards some other cluster, and pins the C locale
// that initdb --no-locale chose.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// choosePort reports fresh=true when the port was picked now rather than
// asked for or remembered, i.e. when falling back to another one is fine.
func (c *Cluster) choosePort(requested int) (port int, fresh bool, err error) {
	if requested != 0 {
		return requested, false, nil
	}
	if raw, err := os.ReadFile(filepath.Join(c.dir, portFile)); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && p > 0 {
			if portFree(p) {
				return p, false, nil
			}
			// Our own leftover server was stopped above, so this is some
			// other program; a new URL beats refusing to start.
			c.logf("pgcluster: port %d recorded in %s is taken by another program; picking another", p, c.dir)
		}
	}
	p, err := freePort()
	return p, true, err
}

func (c *Cluster) savePort() error {
	p := filepath.Join(c.dir, portFile)
	if err := os.WriteFile(p, []byte(strconv.Itoa(c.port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pgcluster: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readFrom returns what the server logged during this start attempt
// (bounded), because the log file accumulates across restarts.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log)"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size()-offset > logTailMaxBytes {
		offset = st.Size() - logTailMaxBytes
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "(unreadable log)"
	}
	b, _ := io.ReadAll(f)
	return string(bytes.TrimSpace(b))
}

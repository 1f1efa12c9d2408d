package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// This file is not a _test.go file so that other packages' tests can share
// the harness. Typical use, once per test binary:
//
//	var pg *pgcluster.Cluster
//
//	func TestMain(m *testing.M) {
//		c, cleanup, err := pgcluster.SharedForTests()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		pg = c
//		code := m.Run()
//		cleanup()
//		os.Exit(code)
//	}
//
// and in each test: url, err := pg.FreshDatabase(ctx, "orders").

// testStartTimeout bounds initdb plus startup, which take a few seconds even
// on a loaded CI machine.
const testStartTimeout = 2 * time.Minute

// SharedForTests returns a server for a whole test binary. When
// DATABASE_URL is set (a CI service container, a developer's own server) it
// wraps that server: URL swaps the database name and Stop does nothing.
// Otherwise it starts an ephemeral cluster in a fresh temporary directory;
// the returned cleanup stops it and removes the directory.
func SharedForTests() (*Cluster, func(), error) {
	if raw := os.Getenv("DATABASE_URL"); raw != "" {
		c, err := wrap(raw)
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	}

	// Under root the server runs as another user, who must be able to reach
	// the directory; a root-only TMPDIR would not do, /tmp does.
	parent := ""
	if os.Geteuid() == 0 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "pgcluster-")
	if err != nil {
		return nil, nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("pgcluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testStartTimeout)
	defer cancel()
	c, err := Start(ctx, Options{Dir: dir, Ephemeral: true})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	cleanup := func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		_ = os.RemoveAll(dir)
	}
	return c, cleanup, nil
}

func wrap(raw string) (*Cluster, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// Keyword/value DSNs are valid for libpq but give no safe way to
		// swap the database name, so only URLs are accepted.
		return nil, fmt.Errorf("pgcluster: DATABASE_URL must be a postgres:// URL with a host")
	}
	return &Cluster{external: u, logf: func(string, ...any) {}}, nil
}

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1; longer names are silently
// truncated by the server, which would break the URL we hand back.
const maxIdentifierLen = 63

// FreshDatabase creates a database no other test uses and returns its URL,
// so tests can run in parallel and leave data behind without interfering.
// The prefix is reduced to [a-z0-9_] (it is often a test name) and
// shortened to keep the name within PostgreSQL's 63-byte limit.
func (c *Cluster) FreshDatabase(ctx context.Context, prefix string) (string, error) {
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	tail := "_" + hex.EncodeToString(suffix[:])
	name := sanitizePrefix(prefix, maxIdentifierLen-len(tail)) + tail
	if err := c.CreateDatabase(ctx, name); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

func sanitizePrefix(prefix string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(prefix) {
		if b.Len() == max {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "test"
	}
	return b.String()
}

package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/metrics"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/problem"
)

// /readyz passes with every dependency up; an event the projection has
// not applied for longer than the bound, a stopped Postgres and a stopped
// broker each turn it into a 503 naming the failing check. A commit
// marker after the projection's position is not an unapplied event.
func TestReadyzFollowsDependencies(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Postgres is reached through a proxy the test can stop.
	u, err := url.Parse(e.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host)
	u.Host = px.addr
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	m := metrics.New()
	proj := metrics.Projection{Name: "campaigns", Group: "ziett.projection.campaigns",
		Topics: []string{kafkalog.OrgEvents, kafkalog.MessageEvents}}
	lag := m.Lag(metrics.LagConfig{Kafka: cl, Client: kafkalog.ClientConfig{Brokers: e.Brokers}, DB: pool, Projections: []metrics.Projection{proj}})
	rd := &metrics.Readiness{Kafka: cl, DB: pool, Lag: lag, MaxProjectionLag: 30 * time.Second, Timeout: time.Second}
	api := &httpapi.Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ops: httpapi.Ops{Ready: rd.Check}}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()

	readyz := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	field := func(body map[string]any, name string) string {
		f, _ := body["fields"].(map[string]any)
		s, _ := f[name].(string)
		return s
	}

	// The demo's credit is the only event and it is seconds old: the
	// projection, which never ran, is still within the bound.
	if code, body := readyz(); code != http.StatusOK || body["status"] != "ready" {
		t.Fatalf("all up: %d %v", code, body)
	}

	// An event from two minutes ago, after everything the projection
	// applied, that it has not applied.
	setOffsets(t, ctx, pool, cl, proj, -1)
	old := &kgo.Record{Topic: kafkalog.OrgEvents, Key: []byte("k"), Value: []byte("{}"), Timestamp: time.Now().Add(-2 * time.Minute)}
	if err := cl.ProduceSync(ctx, old).FirstErr(); err != nil {
		t.Fatal(err)
	}
	code, body := readyz()
	if code != http.StatusServiceUnavailable || body["code"] != string(problem.CodeUnavailable) || field(body, "projection.campaigns") == "" {
		t.Fatalf("projection behind: %d %v", code, body)
	}

	// The projection catches up to the end of every partition.
	setOffsets(t, ctx, pool, cl, proj, -1)
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("projection caught up: %d %v", code, body)
	}

	// A transaction's records are applied; only its commit marker follows
	// the projection's position.
	tx, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...), kgo.TransactionalID("readyz-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	old.Timestamp = time.Now().Add(-3 * time.Minute)
	res := tx.ProduceSync(ctx, old)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	setOffsets(t, ctx, pool, cl, proj, res[0].Record.Partition)
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("only a commit marker unapplied: %d %v", code, body)
	}

	px.stop()
	code, body = readyz()
	if code != http.StatusServiceUnavailable || field(body, "postgres") == "" || field(body, "kafka") != "" {
		t.Fatalf("postgres stopped: %d %v", code, body)
	}

	e.Kafka.Close()
	code, body = readyz()
	if code != http.StatusServiceUnavailable || field(body, "kafka") == "" {
		t.Fatalf("kafka stopped: %d %v", code, body)
	}
}

// setOffsets stores, for every partition of the projection's topics, the
// partition's last stable offset as the projection's position; for
// partition marked of the organisation stream, the offset before it (its
// last record being a commit marker).
func setOffsets(t *testing.T, ctx context.Context, pool *pgxpool.Pool, cl *kgo.Client, p metrics.Projection, marked int32) {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, p.Topics...)
	if err != nil {
		t.Fatal(err)
	}
	schema := "public"
	if err := pool.QueryRow(ctx, `SELECT schema_name FROM read_models WHERE name = $1`, p.Name).Scan(&schema); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		next := o.Offset
		if o.Topic == kafkalog.OrgEvents && o.Partition == marked {
			next--
		}
		if _, err := pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "projection_offsets"}.Sanitize()+` (projection, topic, partition, next_offset)
			VALUES ($1, $2, $3, $4) ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = $4`,
			p.Name, o.Topic, o.Partition, next); err != nil {
			t.Fatal(err)
		}
	})
}

// proxy forwards TCP connections to a target until stopped; stopping it
// closes the listener and every connection, as a stopped server would.
type proxy struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), ln: ln}
	t.Cleanup(p.stop)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }() //nolint:errcheck
			go func() { io.Copy(c, up); c.Close() }()  //nolint:errcheck
		}
	}()
	return p
}

func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

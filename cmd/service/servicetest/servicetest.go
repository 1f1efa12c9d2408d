// Package servicetest starts the whole service for integration tests: an
// in-process Kafka broker (kfake, the real protocol), a real PostgreSQL
// database, and every component wired as in production.
package servicetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/events"
)

var pg *pgcluster.Cluster

// Main runs a package's tests with one PostgreSQL server for the binary
// (DATABASE_URL when set, else a throwaway cluster). Call it from TestMain.
func Main(m *testing.M) {
	c, cleanup, err := pgcluster.SharedForTests()
	if err != nil {
		fmt.Fprintln(os.Stderr, "servicetest:", err)
		os.Exit(1)
	}
	pg = c
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// Env is one running service with its own broker and database.
type Env struct {
	T       testing.TB
	Kafka   *kfake.Cluster
	Brokers []string
	DBURL   string
	Stack   *service.Stack
	Cfg     service.Config
	BaseURL string
	Demo    admin.Demo
	HTTP    *http.Client
}

// Option adjusts the stack's configuration before it starts.
type Option func(*service.Config)

// WithComponents runs only some components.
func WithComponents(c ...string) Option { return func(cfg *service.Config) { cfg.Components = c } }

// Credits is what the demo organisation starts with: 1,000,000.00 AOA.
const Credits = 100_000_000

// Start brings up a fresh broker, database and stack, and a demo
// organisation with credits, an approved sender and a send+read key.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	if pg == nil {
		t.Fatal("servicetest: call servicetest.Main from TestMain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	url, err := pg.FreshDatabase(ctx, "it")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, Kafka: kc, Brokers: kc.ListenAddrs(), DBURL: url, HTTP: &http.Client{Timeout: 30 * time.Second}}
	// The service's log is kept (its last lines) and printed if the test
	// fails, so a failure in CI leaves the service's side of the story.
	tail := &logTail{max: 300}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the service's last %d log lines:\n%s", tail.len(), tail.String())
		}
	})
	e.Cfg = service.Config{
		Brokers: e.Brokers, DatabaseURL: url, HTTPAddr: "127.0.0.1:0", Partitions: 4,
		Log: slog.New(slog.NewTextHandler(tail, nil)),
	}
	if testing.Verbose() {
		e.Cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	for _, o := range opts {
		o(&e.Cfg)
	}
	e.Stack, err = service.Start(ctx, e.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stack.Close() })
	e.BaseURL = "http://" + e.Stack.Addr
	e.Demo, err = e.Stack.Admin.CreateDemo(ctx, Credits, []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead, apikey.ScopeMessageSend})
	if err != nil {
		t.Fatal(err)
	}
	e.Demo.BaseURL = e.BaseURL
	return e
}

// SeedRequest is the example request of the API reference, with the
// demo's remitter.
func (e *Env) SeedRequest() map[string]any {
	return map[string]any{
		"name":           "Black Friday Promo - Luanda",
		"remitter_id":    e.Demo.RemitterID.String(),
		"channel_type":   "SMS",
		"country_alpha2": "AO",
		"content":        "Flash Sale! Enjoy 50% off on all items this weekend only.",
		"recipients":     []string{"+244990000001", "+244990000002", "990000003"},
	}
}

// Response is a decoded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// Do sends a request with the given key (none when empty) and body
// (marshalled unless it is []byte or string).
func (e *Env) Do(method, path, key string, body any, hdr ...string) Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.BaseURL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.HTTP.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Submit posts a campaign with the demo key and returns its id, failing
// the test unless the answer is 202.
func (e *Env) Submit(req map[string]any) uuid.UUID {
	e.T.Helper()
	r := e.Do(http.MethodPost, "/c/v1/campaigns/batch", e.Demo.APIKey, req)
	if r.Status != http.StatusAccepted {
		e.T.Fatalf("POST batch: %d %s", r.Status, r.Body)
	}
	id, err := uuid.Parse(r.JSON(e.T)["campaign_id"].(string))
	if err != nil {
		e.T.Fatal(err)
	}
	return id
}

// SubmitMessage sends a single message with the demo key (fields not
// given are the demo's remitter, SMS and a short text) and returns its id,
// failing the test unless the answer is 202.
func (e *Env) SubmitMessage(fields map[string]any) uuid.UUID {
	e.T.Helper()
	req := map[string]any{"remitter_id": e.Demo.RemitterID.String(), "channel_type": "SMS", "content": "Your code is 123456."}
	for k, v := range fields {
		req[k] = v
	}
	r := e.Do(http.MethodPost, "/c/v1/messages", e.Demo.APIKey, req)
	if r.Status != http.StatusAccepted {
		e.T.Fatalf("POST message: %d %s", r.Status, r.Body)
	}
	id, err := uuid.Parse(r.JSON(e.T)["message_id"].(string))
	if err != nil {
		e.T.Fatal(err)
	}
	return id
}

// WaitMessage polls Retrieve Message until the message has one of the
// statuses, and returns its body.
func (e *Env) WaitMessage(id uuid.UUID, timeout time.Duration, statuses ...string) map[string]any {
	e.T.Helper()
	return e.waitFor("message", "/c/v1/messages/"+id.String(), timeout, statuses)
}

// WaitStatus polls Retrieve Campaign until the campaign has one of the
// statuses, and returns its body.
func (e *Env) WaitStatus(id uuid.UUID, timeout time.Duration, statuses ...string) map[string]any {
	e.T.Helper()
	return e.waitFor("campaign", "/c/v1/campaigns/"+id.String(), timeout, statuses)
}

// waitFor polls a resource until its status is one of statuses.
func (e *Env) waitFor(what, path string, timeout time.Duration, statuses []string) map[string]any {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	var last Response
	for time.Now().Before(deadline) {
		last = e.Do(http.MethodGet, path, e.Demo.APIKey, nil)
		if last.Status == http.StatusOK {
			m := last.JSON(e.T)
			if slices.Contains(statuses, fmt.Sprint(m["status"])) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.T.Fatalf("%s %s did not reach %v within %s; last answer %d %s", what, path, statuses, timeout, last.Status, last.Body)
	return nil
}

// Events reads a topic from the start up to its current end and returns
// the events, committed ones only, that match keep.
func (e *Env) Events(topic string, keep func(events.Envelope) bool) []events.Envelope {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []events.Envelope
	err := ReadTopic(ctx, e.Brokers, topic, func(r *kgo.Record) {
		env, err := kafkalog.Decode(r)
		if err != nil {
			e.T.Errorf("undecodable record on %s: %v", topic, err)
			return
		}
		if keep == nil || keep(env) {
			out = append(out, env)
		}
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return out
}

// ReadTopic calls fn for every committed record of every partition of a
// topic, up to the partition ends as they are when it starts.
func ReadTopic(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record)) error {
	cl, err := kafkalog.Client(kafkalog.ClientConfig{Brokers: brokers}, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := listEnds(ctx, cl, topic)
	if err != nil {
		return err
	}
	for p, end := range ends {
		if end == 0 {
			continue
		}
		if _, err := kafkalog.ReadPartition(ctx, brokers, topic, p, 0, end, fn); err != nil {
			return err
		}
	}
	return nil
}

// Loop builds a stage's loop from its config (service.ProcessorLoop and
// the like), failing the test on an invalid config. Call it on the test's
// goroutine.
func (e *Env) Loop(c kafkalog.TxLoopConfig) *kafkalog.TxLoop {
	e.T.Helper()
	l, err := kafkalog.NewTxLoop(c)
	if err != nil {
		e.T.Fatal(err)
	}
	return l
}

// logTail keeps the last max lines written to it.
type logTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if len(l.lines) == l.max {
			l.lines = l.lines[1:]
		}
		l.lines = append(l.lines, line)
	}
	return len(p), nil
}

func (l *logTail) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

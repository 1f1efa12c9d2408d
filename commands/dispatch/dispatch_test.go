package dispatch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
)

// script is a provider whose answers a test decides, and that counts what
// reached it.
type script struct {
	mu      sync.Mutex
	answers []error // one per Send, in order; past the end: success
	taken   map[uuid.UUID]bool
	sends   int
	lookups int
	// takeOnError: the provider takes the message even when the call
	// returns an error (a response lost on the way back).
	takeOnError bool
}

func (s *script) Send(_ context.Context, m Message) (Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.sends < len(s.answers) {
		err = s.answers[s.sends]
	}
	s.sends++
	if err == nil || s.takeOnError {
		s.taken[m.ID] = true
	}
	return Receipt{ProviderRef: "ref-" + m.ID.String()[:8]}, err
}

func (s *script) Lookup(_ context.Context, id uuid.UUID) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if s.taken[id] {
		return Status{State: Accepted, ProviderRef: "ref-" + id.String()[:8]}, nil
	}
	return Status{State: Unknown}, nil
}

type memIntents map[shardOf]int64

func (m memIntents) Claim(_ context.Context, log string, shard int32, end int64) (int64, error) {
	p := shardOf{log, shard}
	claimed := m[p]
	m[p] = max(claimed, end)
	return claimed, nil
}

var fast = Retry{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}

func delivery(t *testing.T) (events.Message, events.Delivery) {
	t.Helper()
	cid := uuid.New()
	d := events.Delivery{MessageID: events.MessageID(cid, 0), CampaignID: cid, OrgID: uuid.New(), To: "+244923456789",
		Content: "Hi", Segments: 1, Cost: 500, Currency: "AOA", Provider: "unitel", CampaignTotal: 1}
	m := events.ToDeliver(d)
	m.At = events.Position{Log: "deliveries.unitel"}
	return m, d
}

func dispatch(t *testing.T, d *Dispatcher, m events.Message) events.Envelope {
	t.Helper()
	var out []events.Envelope
	outs, err := d.Handle(context.Background(), []events.Message{m, m})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Stream != events.MessageStream {
			t.Fatalf("outcome on the %s stream", o.Stream)
		}
		out = append(out, o.Event)
	}
	if len(out) != 1 {
		t.Fatalf("%d outcomes for one message (given twice in the batch), want 1", len(out))
	}
	return out[0]
}

func TestDeliver(t *testing.T) {
	transient := &Error{Code: "TEMPORARY_FAILURE", Message: "busy"}
	permanent := &Error{Code: "INVALID_DESTINATION", Message: "no", Permanent: true}
	lost := errors.New("connection reset")
	tests := []struct {
		name        string
		answers     []error
		takeOnError bool
		claimed     bool // an earlier attempt claimed the message
		takenBefore bool // ... and the provider took it
		want        events.Type
		code        string
		sends       int
		lookups     int
		attempts    int
	}{
		{name: "accepted", want: events.MessageSent, sends: 1, attempts: 1},
		{name: "transient then accepted", answers: []error{transient, transient}, want: events.MessageSent, sends: 3, attempts: 3},
		{name: "transient exhausted", answers: []error{transient, transient, transient}, want: events.MessageFailed, code: "TEMPORARY_FAILURE", sends: 3, attempts: 3},
		{name: "permanent fails at once", answers: []error{permanent}, want: events.MessageFailed, code: "INVALID_DESTINATION", sends: 1, attempts: 1},
		{name: "lost answer is looked up, not resent", answers: []error{lost}, takeOnError: true, want: events.MessageSent, sends: 1, lookups: 1, attempts: 2},
		{name: "lost call is resent after lookup", answers: []error{lost}, want: events.MessageSent, sends: 2, lookups: 1, attempts: 2},
		{name: "redelivered after the provider took it", claimed: true, takenBefore: true, want: events.MessageSent, sends: 0, lookups: 1, attempts: 1},
		{name: "redelivered before the provider got it", claimed: true, want: events.MessageSent, sends: 1, lookups: 1, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dl := delivery(t)
			p := &script{answers: tt.answers, taken: map[uuid.UUID]bool{}, takeOnError: tt.takeOnError}
			in := memIntents{}
			if tt.claimed {
				in[shardOf{r.At.Log, r.At.Shard}] = r.At.Offset + 1
			}
			if tt.takenBefore {
				p.taken[dl.MessageID] = true
			}
			d, err := New(Config{Provider: p, Name: "unitel", Retry: fast, Concurrency: 4, Intents: in,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			e := dispatch(t, d, r)
			var o events.MessageOutcome
			if err := e.Decode(&o); err != nil {
				t.Fatal(err)
			}
			if e.Type != tt.want || o.ErrorCode != tt.code || p.sends != tt.sends || p.lookups != tt.lookups || o.Attempts != tt.attempts {
				t.Fatalf("got %s code=%q sends=%d lookups=%d attempts=%d; want %s code=%q sends=%d lookups=%d attempts=%d",
					e.Type, o.ErrorCode, p.sends, p.lookups, o.Attempts, tt.want, tt.code, tt.sends, tt.lookups, tt.attempts)
			}
			if in[shardOf{r.At.Log, r.At.Shard}] != r.At.Offset+1 {
				t.Fatal("no claim recorded")
			}
			if e.ID != events.DerivedID(dl.MessageID, tt.want, 0) || e.CampaignID != dl.CampaignID || o.Cost != 500 {
				t.Fatalf("outcome envelope %+v / %+v", e, o)
			}
		})
	}
}

func TestShareSplitsTheLimit(t *testing.T) {
	d, err := New(Config{Provider: &script{}, Intents: NoClaims{}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	d.Share(2, 8)
	if got := d.MaxBatch(); got != 125 { // 25/s for 5 s
		t.Fatalf("MaxBatch = %d at a quarter of 100/s, want 125", got)
	}
	if got := float64(d.limiter.Limit()); got != 25 {
		t.Fatalf("rate = %v, want 25", got)
	}
	d.Share(8, 8)
	if got := float64(d.limiter.Limit()); got != 100 {
		t.Fatalf("rate = %v with every partition, want 100", got)
	}
	d.Share(0, 8)
	if got := d.MaxBatch(); got != 1 {
		t.Fatalf("MaxBatch = %d without partitions, want 1", got)
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	r := Retry{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	distinct := map[time.Duration]bool{}
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := min(r.BaseDelay<<(attempt-1), r.MaxDelay)
		for range 50 {
			d := backoff(r, attempt)
			if d <= 0 || d > ceiling {
				t.Fatalf("attempt %d: backoff %s outside (0, %s]", attempt, d, ceiling)
			}
			distinct[d] = true
		}
	}
	if len(distinct) < 100 {
		t.Fatalf("only %d distinct delays in 500: no jitter", len(distinct))
	}
}

// New refuses a config that cannot run, naming what is wrong, and gives
// the zero fields of a valid one their documented defaults.
func TestNewValidatesAndDefaults(t *testing.T) {
	valid := func() Config { return Config{Provider: &script{}, Intents: NoClaims{}} }
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no provider is refused", func(c *Config) { c.Provider = nil }, "no provider"},
		{"no intents are refused", func(c *Config) { c.Intents = nil }, "no intents"},
		{"a negative retry is refused", func(c *Config) { c.Retry.MaxAttempts = -1 }, "negative retry"},
		{"a negative concurrency is refused", func(c *Config) { c.Concurrency = -1 }, "negative concurrency"},
		{"a negative limit is refused", func(c *Config) { c.Limit = -1 }, "negative limit"},
		{"a negative call timeout is refused", func(c *Config) { c.CallTimeout = -1 }, "negative call timeout"},
		{"a negative control ttl is refused", func(c *Config) { c.ControlTTL = -1 }, "negative control ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	d, err := New(valid())
	if err != nil {
		t.Fatal(err)
	}
	got := d.Config()
	if got.Retry != DefaultRetry || got.Concurrency != DefaultConcurrency || got.CallTimeout != DefaultCallTimeout ||
		got.ControlTTL != DefaultControlTTL || got.Controls != (NoControls{}) || got.Log == nil || got.Acked == nil {
		t.Fatalf("defaults not applied: %+v", got)
	}
	if d.gate != nil {
		t.Fatal("a dispatcher without controls asks about campaigns")
	}
}

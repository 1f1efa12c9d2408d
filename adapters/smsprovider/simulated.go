// Package smsprovider holds the SMS provider adapters. Simulated behaves
// like a real operator's API (latency, throughput limit, transient and
// permanent failures, idempotent on our message id, lookup by our message
// id) without sending SMS.
package smsprovider

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"ziett.co/campaigns/commands/dispatch"
)

// Config tunes the simulation.
type Config struct {
	Name string
	// Latency is the mean time an accepted submission takes; each call
	// takes between half and one and a half of it.
	Latency time.Duration
	// RatePerSecond caps submissions the way an operator's contract does;
	// callers over the cap get a transient THROTTLED error. 0 = unlimited.
	RatePerSecond float64
	// TransientFailure and PermanentFailure are probabilities in [0,1].
	TransientFailure float64
	PermanentFailure float64
	// RecordTimes keeps the time of every call, for throughput checks.
	RecordTimes bool
	// OnAccept, when set, is told of each message the first time it is
	// accepted, as the acknowledgement is returned (the benchmark's clock
	// for "the provider acknowledged it").
	OnAccept func(id uuid.UUID)
	// JournalDir, with NewJournaled, keeps the provider's decisions in
	// a file there so that they outlive the process (journal.go).
	JournalDir string
}

type rejection struct{ code, msg string }

// acceptance is an accepted message: its reference and how many calls for
// it were answered with success.
type acceptance struct {
	ref   string
	calls int
}

// Simulated is an in-process provider.
type Simulated struct {
	cfg     Config
	limiter *rate.Limiter

	mu       sync.Mutex
	sent     map[uuid.UUID]*acceptance
	rejected map[uuid.UUID]rejection
	times    []time.Time

	throttled atomic.Int64
	seq       atomic.Int64
	journal   *os.File
}

func NewSimulated(cfg Config) *Simulated {
	s := &Simulated{cfg: cfg, sent: map[uuid.UUID]*acceptance{}, rejected: map[uuid.UUID]rejection{}}
	if cfg.RatePerSecond > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(cfg.RatePerSecond), max(1, int(cfg.RatePerSecond/10)))
	}
	return s
}

// Send implements dispatch.Provider. Like a real operator it is idempotent
// on the message id: a message accepted or rejected before gets the same
// answer again and is not sent again.
func (s *Simulated) Send(ctx context.Context, m dispatch.Message) (dispatch.Receipt, error) {
	if s.cfg.RecordTimes {
		s.mu.Lock()
		s.times = append(s.times, time.Now()) // under the lock, so the slice is in time order
		s.mu.Unlock()
	}
	if s.limiter != nil && !s.limiter.Allow() {
		s.throttled.Add(1)
		return dispatch.Receipt{}, &dispatch.Error{Code: "THROTTLED", Message: "submission rate exceeded"}
	}
	if s.cfg.Latency > 0 {
		d := s.cfg.Latency/2 + time.Duration(rand.Int64N(int64(s.cfg.Latency)+1))
		select {
		case <-ctx.Done():
			return dispatch.Receipt{}, ctx.Err()
		case <-time.After(d):
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, dup := s.sent[m.ID]; dup {
		a.calls++
		s.record("D %s", m.ID)
		return dispatch.Receipt{ProviderRef: a.ref}, nil
	}
	if r, dup := s.rejected[m.ID]; dup {
		return dispatch.Receipt{}, &dispatch.Error{Code: r.code, Message: r.msg, Permanent: true}
	}
	if p := rand.Float64(); p < s.cfg.PermanentFailure {
		r := rejection{"INVALID_DESTINATION", "destination rejected by operator"}
		s.rejected[m.ID] = r
		s.record("R %s %s", m.ID, r.code)
		return dispatch.Receipt{}, &dispatch.Error{Code: r.code, Message: r.msg, Permanent: true}
	} else if p < s.cfg.PermanentFailure+s.cfg.TransientFailure {
		return dispatch.Receipt{}, &dispatch.Error{Code: "TEMPORARY_FAILURE", Message: "operator temporarily unavailable"}
	}
	ref := s.cfg.Name + "-" + strconv.FormatInt(s.seq.Add(1), 10)
	s.sent[m.ID] = &acceptance{ref: ref, calls: 1}
	s.record("S %s %s", m.ID, ref)
	if s.cfg.OnAccept != nil {
		s.cfg.OnAccept(m.ID)
	}
	return dispatch.Receipt{ProviderRef: ref}, nil
}

// Lookup implements dispatch.Provider.
func (s *Simulated) Lookup(ctx context.Context, id uuid.UUID) (dispatch.Status, error) {
	if err := ctx.Err(); err != nil {
		return dispatch.Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.sent[id]; ok {
		return dispatch.Status{State: dispatch.Accepted, ProviderRef: a.ref}, nil
	}
	if r, ok := s.rejected[id]; ok {
		return dispatch.Status{State: dispatch.Rejected, Code: r.code, Message: r.msg}, nil
	}
	return dispatch.Status{State: dispatch.Unknown}, nil
}

// Throttled counts calls refused for exceeding RatePerSecond.
func (s *Simulated) Throttled() int64 { return s.throttled.Load() }

// Accepted counts distinct messages the provider accepted.
func (s *Simulated) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

// AcceptedCalls maps each accepted message to the number of calls that
// were answered with success for it: more than one means the message was
// handed over more than once (the provider's idempotency hid it).
func (s *Simulated) AcceptedCalls() map[uuid.UUID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uuid.UUID]int, len(s.sent))
	for id, a := range s.sent {
		out[id] = a.calls
	}
	return out
}

// Rejected reports whether the provider permanently refused a message.
func (s *Simulated) Rejected(id uuid.UUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.rejected[id]
	return ok
}

// CallTimes is the time of every Send (with RecordTimes).
func (s *Simulated) CallTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// MaxInWindow is the largest number of calls in any window of length w.
func MaxInWindow(times []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

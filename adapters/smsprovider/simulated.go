// Package smsprovider holds the SMS provider adapters. Simulated behaves
// like a real operator's API (latency, throughput limit, transient and
// permanent failures, idempotent on our message id) without sending SMS.
package smsprovider

import (
	"context"
	"math/rand/v2"
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
}

// Simulated is an in-process provider.
type Simulated struct {
	cfg     Config
	limiter *rate.Limiter

	mu   sync.Mutex
	sent map[uuid.UUID]string // message id → provider ref

	submissions atomic.Int64
	seq         atomic.Int64
}

func NewSimulated(cfg Config) *Simulated {
	s := &Simulated{cfg: cfg, sent: map[uuid.UUID]string{}}
	if cfg.RatePerSecond > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(cfg.RatePerSecond), max(1, int(cfg.RatePerSecond/10)))
	}
	return s
}

// Send implements dispatch.Provider.
func (s *Simulated) Send(ctx context.Context, m dispatch.Message) (dispatch.Receipt, error) {
	s.submissions.Add(1)
	if s.limiter != nil && !s.limiter.Allow() {
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
	ref, dup := s.sent[m.ID]
	s.mu.Unlock()
	if dup {
		return dispatch.Receipt{ProviderRef: ref}, nil
	}
	if p := rand.Float64(); p < s.cfg.PermanentFailure {
		return dispatch.Receipt{}, &dispatch.Error{Code: "INVALID_DESTINATION", Message: "destination rejected by operator", Permanent: true}
	} else if p < s.cfg.PermanentFailure+s.cfg.TransientFailure {
		return dispatch.Receipt{}, &dispatch.Error{Code: "TEMPORARY_FAILURE", Message: "operator temporarily unavailable"}
	}
	ref = s.cfg.Name + "-" + strconv.FormatInt(s.seq.Add(1), 10)
	s.mu.Lock()
	if old, ok := s.sent[m.ID]; ok {
		ref = old
	} else {
		s.sent[m.ID] = ref
	}
	s.mu.Unlock()
	return dispatch.Receipt{ProviderRef: ref}, nil
}

// Submissions counts calls to Send, accepted or not.
func (s *Simulated) Submissions() int64 { return s.submissions.Load() }

// Accepted counts distinct messages the provider accepted.
func (s *Simulated) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

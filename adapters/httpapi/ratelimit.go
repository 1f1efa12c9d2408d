package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/domain/problem"
)

// RateLimiter counts requests per key in a fixed window.
type RateLimiter interface {
	Take(ctx context.Context, key uuid.UUID, limit int, window time.Duration) (postgres.Window, error)
}

const (
	// rateWindow is the window of the published "10 requests per minute".
	rateWindow = time.Minute
	// defaultRate applies to a key whose row carries none.
	defaultRate = 10
	// batchPolicyName names the batch policy in the IETF RateLimit fields.
	batchPolicyName = `"batch"`
)

// ratePolicy is one endpoint's per-key limit.
type ratePolicy struct {
	name    string // in the IETF RateLimit fields, quoted
	window  time.Duration
	unit    string // "minute", "second": in the 429 message
	limit   func(p postgres.Principal) int
	limiter func(s *Server) RateLimiter
}

var (
	batchPolicy = ratePolicy{name: batchPolicyName, window: rateWindow, unit: "minute",
		limit: func(p postgres.Principal) int {
			if p.RatePerMinute > 0 {
				return p.RatePerMinute
			}
			return defaultRate
		},
		limiter: func(s *Server) RateLimiter { return s.Limiter }}
	// messagePolicy is Send Message's own limit: 100 requests per second
	// by default, set per key with `ziett admin key set-message-rate`.
	messagePolicy = ratePolicy{name: `"message"`, window: time.Second, unit: "second",
		limit: func(p postgres.Principal) int {
			if p.MessageRatePerSecond > 0 {
				return p.MessageRatePerSecond
			}
			return defaultMessageRate
		},
		limiter: func(s *Server) RateLimiter { return s.MessageLimiter }}
)

// defaultMessageRate applies to a key whose row carries none.
const defaultMessageRate = 100

// limited counts the request against its key before anything else is
// looked at, so every authenticated request to the endpoint counts: a
// malformed or refused request costs the service work too, and counting
// only successes would let a client hammer it with bad ones. Requests
// without a valid key (401) are not counted: there is no key to count
// against. Every counted response carries the limit headers, in the
// X-RateLimit-* form clients know and in the IETF draft's RateLimit-Policy
// and RateLimit fields (draft-ietf-httpapi-ratelimit-headers).
func (s *Server) limited(h http.HandlerFunc) http.HandlerFunc { return s.limitedBy(batchPolicy, h) }

func (s *Server) limitedBy(pol ratePolicy, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lim := pol.limiter(s)
		if lim == nil {
			h(w, r)
			return
		}
		p := principal(r.Context())
		limit := pol.limit(p)
		win, err := lim.Take(r.Context(), p.KeyID, limit, pol.window)
		if err != nil {
			s.Log.Error("rate limit", "err", err, "trace_id", TraceID(r.Context()))
			respond(w, r, errUnavailable.WithRetryAfter(time.Second))
			return
		}
		reset := ceilSeconds(win.Reset.Sub(win.Now))
		hd := w.Header()
		hd.Set("X-RateLimit-Limit", strconv.Itoa(win.Limit))
		hd.Set("X-RateLimit-Remaining", strconv.Itoa(win.Remaining()))
		hd.Set("X-RateLimit-Reset", strconv.FormatInt(win.Reset.Add(time.Second-1).Unix(), 10))
		hd.Set("RateLimit-Policy", pol.name+";q="+strconv.Itoa(win.Limit)+";w="+strconv.Itoa(int(pol.window/time.Second)))
		hd.Set("RateLimit", pol.name+";r="+strconv.Itoa(win.Remaining())+";t="+strconv.Itoa(reset))
		if !win.Allowed {
			s.Log.Info("request rate limited", "policy", pol.name, "key_id", p.KeyID, "limit", win.Limit, "trace_id", TraceID(r.Context()))
			respond(w, r, rateLimited(win, pol.unit))
			return
		}
		h(w, r)
	}
}

// rateLimited is the 429 of a window that is used up; unit names the
// window ("minute", "second").
func rateLimited(win postgres.Window, unit string) *problem.Error {
	reset := ceilSeconds(win.Reset.Sub(win.Now))
	return problem.New(problem.CodeRateLimited, "Rate limit of "+strconv.Itoa(win.Limit)+" requests per "+unit+
		" exceeded for this API key. Retry after "+strconv.Itoa(reset)+" seconds.").
		WithRetryAfter(time.Duration(reset) * time.Second)
}

package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/postgres"
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
	// ratePolicy names the policy in the IETF RateLimit fields.
	ratePolicy = `"batch"`
)

// limited counts the request against its key before anything else is
// looked at, so every authenticated request to the endpoint counts: a
// malformed or refused request costs the service work too, and counting
// only successes would let a client hammer it with bad ones. Requests
// without a valid key (401) are not counted: there is no key to count
// against. Every counted response carries the limit headers, in the
// X-RateLimit-* form clients know and in the IETF draft's RateLimit-Policy
// and RateLimit fields (draft-ietf-httpapi-ratelimit-headers).
func (s *Server) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Limiter == nil {
			h(w, r)
			return
		}
		p := principal(r.Context())
		limit := p.RatePerMinute
		if limit <= 0 {
			limit = defaultRate
		}
		win, err := s.Limiter.Take(r.Context(), p.KeyID, limit, rateWindow)
		if err != nil {
			s.Log.Error("rate limit", "err", err, "trace_id", TraceID(r.Context()))
			w.Header().Set("Retry-After", "1")
			writeError(w, r, http.StatusServiceUnavailable, CodeUnavailable, "The service is temporarily unavailable.", ServiceCore, nil)
			return
		}
		reset := ceilSeconds(win.Reset.Sub(win.Now))
		hd := w.Header()
		hd.Set("X-RateLimit-Limit", strconv.Itoa(win.Limit))
		hd.Set("X-RateLimit-Remaining", strconv.Itoa(win.Remaining()))
		hd.Set("X-RateLimit-Reset", strconv.FormatInt(win.Reset.Add(time.Second-1).Unix(), 10))
		hd.Set("RateLimit-Policy", ratePolicy+";q="+strconv.Itoa(win.Limit)+";w="+strconv.Itoa(int(rateWindow/time.Second)))
		hd.Set("RateLimit", ratePolicy+";r="+strconv.Itoa(win.Remaining())+";t="+strconv.Itoa(reset))
		if !win.Allowed {
			hd.Set("Retry-After", strconv.Itoa(reset))
			s.Log.Info("batch request rate limited", "key_id", p.KeyID, "limit", win.Limit, "trace_id", TraceID(r.Context()))
			writeError(w, r, http.StatusTooManyRequests, CodeRateLimited,
				"Rate limit of "+strconv.Itoa(win.Limit)+" requests per minute exceeded for this API key. Retry after "+strconv.Itoa(reset)+" seconds.",
				ServiceRateLimit, nil)
			return
		}
		h(w, r)
	}
}

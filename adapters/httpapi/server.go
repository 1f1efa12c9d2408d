package httpapi

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/projections/campaigns"
)

// MaxBodyBytes bounds a batch request. The largest valid body (1000
// recipients of 31 characters, 10,000 four-byte characters of content) is
// well under 200 KiB; 1 MiB leaves room for whitespace.
const MaxBodyBytes = 1 << 20

// Authenticator resolves an API key.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (postgres.Principal, error)
}

// Campaigns reads the campaign read model.
type Campaigns interface {
	Get(ctx context.Context, org, id uuid.UUID) (campaigns.View, error)
}

// Server wires the endpoints.
type Server struct {
	Auth      Authenticator
	Accept    *accept.Service
	Campaigns Campaigns
	Log       *slog.Logger
	Ops       Ops         // health, readiness, metrics (ops.go)
	Limiter   RateLimiter // per-key limit of the command endpoint (ratelimit.go)
	// MessageLimiter is the per-key limit of Send Message (ratelimit.go).
	MessageLimiter RateLimiter
	// Messages reads single messages and any message by id (messages.go).
	Messages MessageReads
	Balances Balances      // the ledger read model (balance.go)
	Lists    CampaignLists // campaign and message lists (reads.go)
	Trail    CampaignTrail // audit trail read from the log (reads.go)
	Webhooks WebhookStore  // webhook endpoints and deliveries (webhooks.go)
	// UI, when set, serves every path outside the API's (the dashboard);
	// unknown paths under /c/ still get the envelope's 404.
	UI      http.Handler
	Control Controller // pause, resume, cancel (control.go)
	// Suppressions and Consent are the suppression list (suppressions.go).
	Suppressions SuppressionReads
	Consent      SuppressionCommands
	// BodyReadTimeout bounds the time to receive a request's body after
	// its headers (DefaultBodyReadTimeout when zero; body.go).
	BodyReadTimeout time.Duration
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler {
	mux := s.routes()
	return withBodyDeadline(cmp.Or(s.BodyReadTimeout, DefaultBodyReadTimeout),
		s.instrument(mux.ServeMux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mux.ServeHTTP(w, withTrace(r))
		})))
}

// routes registers every endpoint. Every route under /c/v1/, and every
// operational route, must be described in the OpenAPI document:
// TestEveryRouteIsDocumented walks this router and fails on one that is
// not.
func (s *Server) routes() *Mux {
	mux := NewMux()
	// Each group of endpoints registers itself from its own file.
	s.commandRoutes(mux)
	s.messageRoutes(mux)
	s.readRoutes(mux)
	s.opsRoutes(mux)
	s.balanceRoutes(mux)
	s.webhookRoutes(mux)
	s.controlRoutes(mux)
	s.suppressionRoutes(mux)
	notFound := func(w http.ResponseWriter, r *http.Request) {
		respond(w, r, errNoSuchEndpoint)
	}
	if s.UI != nil {
		mux.Handle("/", s.UI)
		mux.HandleFunc("/c/", notFound)
	} else {
		mux.HandleFunc("/", notFound)
	}
	return mux
}

type principalKey struct{}

func principal(ctx context.Context) postgres.Principal {
	p, _ := ctx.Value(principalKey{}).(postgres.Principal)
	return p
}

// authed requires a valid key, and scope when it is not empty. A refused
// key is logged at info (an operator looks for probing and for customers
// with a broken key), with a fingerprint of what was sent, never the key;
// every authenticated read (GET, HEAD) at debug.
func (s *Server) authed(scope string, h http.HandlerFunc) http.HandlerFunc {
	if scope != "" {
		h = requireScope(scope, h)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-API-KEY")
		p, err := s.Auth.Authenticate(r.Context(), key)
		if err != nil {
			if !errors.Is(err, postgres.ErrNotFound) {
				s.fail(w, r, "authenticate", err)
				return
			}
			s.Log.Info("authentication refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
				"key", keyFingerprint(key), "trace_id", TraceID(r.Context()))
			respond(w, r, errInvalidAPIKey)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.Log.Debug("read", "method", r.Method, "path", r.URL.Path, "org_id", p.OrgID, "key_id", p.KeyID, "trace_id", TraceID(r.Context()))
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		h(w, r.WithContext(context.WithValue(ctx, loggerKey{}, s.Log)))
	}
}

type loggerKey struct{}

// requestLog is the server's logger, as authed passes it on.
func requestLog(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// keyFingerprint names a refused key in the logs without revealing it:
// "none", or its length and the first 8 hex digits of its SHA-256, enough
// to tell one caller's repeated attempts from another's.
func keyFingerprint(key string) string {
	if key == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte(key))
	return fmt.Sprintf("len=%d sha256=%x", len(key), sum[:4])
}

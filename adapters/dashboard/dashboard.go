// Package dashboard is the customers' web interface, served by the API
// component beside the REST API: server-rendered pages (html/template,
// go:embed) over the same read models and the same command path as the
// API, signed in with an API key. htmx, vendored under static/, makes the
// lists live and the new-campaign form count as one types; every page
// works without it. docs/dashboard.md has the decisions (sessions, CSRF,
// vendored files).
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/problem"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Directory reads the organisation's sender IDs (postgres.Directory).
type Directory interface {
	ListSenders(ctx context.Context, org uuid.UUID) ([]postgres.Sender, error)
}

// Webhooks keeps webhook endpoints (adapters/webhooks.Registry): what
// the API uses, and test events.
type Webhooks interface {
	httpapi.WebhookStore
	SendTest(ctx context.Context, org, endpoint uuid.UUID) (uuid.UUID, error)
}

// SessionStore keeps browser sessions (postgres.Sessions).
type SessionStore interface {
	Create(ctx context.Context, token string, p postgres.Principal, csrf string, expires time.Time) error
	Get(ctx context.Context, token string, idle time.Duration) (postgres.Session, error)
	Delete(ctx context.Context, token string) error
}

// Commands submits campaigns through the API's own command path
// (httpapi.Server.SubmitBatch), refusals included.
type Commands interface {
	SubmitBatch(ctx context.Context, p postgres.Principal, traceID string, body []byte, idemKey string) (accept.Result, *problem.Error)
}

// Config is what the dashboard reads and writes through, and how it
// behaves. The services are the ones the REST API uses.
type Config struct {
	Auth      httpapi.Authenticator
	Sessions  SessionStore
	Directory Directory
	Campaigns httpapi.Campaigns
	Lists     httpapi.CampaignLists
	Trail     httpapi.CampaignTrail
	Balances  httpapi.Balances
	Webhooks  Webhooks             // optional: no webhooks page without it
	Messages  httpapi.MessageReads // optional: no single-message list without it
	Commands  Commands
	Prices    pricing.Table // for the estimate shown before sending
	Log       *slog.Logger  // default slog.Default()

	// SessionTTL is how long a session lasts at most after sign-in.
	SessionTTL time.Duration // default 12h
	// IdleTimeout ends a session not used for this long.
	IdleTimeout time.Duration // default 1h
	// SecureCookies marks cookies Secure even on plain HTTP (behind a
	// TLS-terminating proxy); they always are when the request came over
	// TLS.
	SecureCookies bool
	// PageSize is the rows of a page of campaigns, messages and entries.
	PageSize int // default 20
	// PollSeconds is how often live parts of a page refresh.
	PollSeconds int // default 2
}

// Server serves the dashboard.
type Server struct {
	cfg    Config
	pages  map[string]*template.Template
	routes []string
}

// New checks the configuration, applies its defaults and parses the
// templates.
func New(cfg Config) (*Server, error) {
	if cfg.Auth == nil || cfg.Sessions == nil || cfg.Directory == nil || cfg.Campaigns == nil ||
		cfg.Lists == nil || cfg.Trail == nil || cfg.Balances == nil || cfg.Commands == nil {
		return nil, errors.New("dashboard: Auth, Sessions, Directory, Campaigns, Lists, Trail, Balances and Commands are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = time.Hour
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 20
	}
	if cfg.PollSeconds == 0 {
		cfg.PollSeconds = 2
	}
	switch {
	case cfg.SessionTTL < time.Minute || cfg.IdleTimeout < time.Minute:
		return nil, fmt.Errorf("dashboard: SessionTTL %s and IdleTimeout %s must be at least a minute", cfg.SessionTTL, cfg.IdleTimeout)
	case cfg.PageSize < 1 || cfg.PageSize > 500:
		return nil, fmt.Errorf("dashboard: PageSize %d out of 1..500", cfg.PageSize)
	case cfg.PollSeconds < 1 || cfg.PollSeconds > 2:
		return nil, fmt.Errorf("dashboard: PollSeconds %d out of 1..2", cfg.PollSeconds)
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, pages: pages}, nil
}

// Handler returns the dashboard's routes. Every state-changing request
// must come from the dashboard's own origin (http.CrossOriginProtection)
// and carry the session's CSRF token (see session.go).
func (s *Server) Handler() http.Handler {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheForever(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /signin", s.signinForm)
	mux.HandleFunc("POST /signin", s.signin)
	mux.HandleFunc("POST /signout", s.signout)

	mux.HandleFunc("GET /campaigns", s.page(s.campaignList))
	mux.HandleFunc("GET /campaigns/live", s.page(s.campaignRows))
	mux.HandleFunc("GET /campaigns/new", s.page(s.newCampaignForm))
	mux.HandleFunc("POST /campaigns/new/estimate", s.form(s.estimate))
	mux.HandleFunc("POST /campaigns", s.form(s.createCampaign))
	mux.HandleFunc("GET /campaigns/{campaign_id}", s.page(s.campaignPage))
	mux.HandleFunc("GET /campaigns/{campaign_id}/live", s.page(s.campaignLive))
	mux.HandleFunc("GET /campaigns/{campaign_id}/trail", s.page(s.campaignTrail))
	mux.HandleFunc("GET /campaigns/{campaign_id}/messages.csv", s.page(s.messagesCSV))
	mux.HandleFunc("GET /balance", s.page(s.balancePage))
	mux.HandleFunc("GET /messages", s.page(s.messagesPage))
	mux.HandleFunc("GET /messages/live", s.page(s.messagesLive))
	mux.HandleFunc("GET /webhooks", s.page(s.webhooksPage))
	mux.HandleFunc("POST /webhooks", s.form(s.createWebhook))
	mux.HandleFunc("POST /webhooks/{webhook_id}/rotate", s.form(s.rotateWebhook))
	mux.HandleFunc("POST /webhooks/{webhook_id}/deliveries/{delivery_id}/resend", s.form(s.resendDelivery))
	mux.HandleFunc("POST /webhooks/{webhook_id}/test", s.form(s.testWebhook))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, nil, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, nil, http.StatusForbidden, "Request refused", "The form was sent from another site.")
	}))
	s.routes = mux.patterns
	return securityHeaders(cop.Handler(mux))
}

// routeMux records the patterns it registers, so that a test can hold
// them against the OpenAPI document.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(p string, h http.Handler) {
	m.ServeMux.Handle(p, h)
	m.patterns = append(m.patterns, p)
}

func (m *routeMux) HandleFunc(p string, h func(http.ResponseWriter, *http.Request)) {
	m.ServeMux.HandleFunc(p, h)
	m.patterns = append(m.patterns, p)
}

// Routes lists the patterns Handler registered ("GET /campaigns", ...).
func (s *Server) Routes() []string { return s.routes }

// securityHeaders: no framing, no sniffing, scripts and styles only from
// this origin.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The vendored files carry their version in their name.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/campaigns", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

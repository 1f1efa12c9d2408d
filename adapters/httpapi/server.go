package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/campaign"
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
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /c/v1/campaigns/batch", s.authed(apikey.ScopeCampaignSend, s.postBatch))
	mux.HandleFunc("GET /c/v1/campaigns/{campaign_id}", s.authed("", s.getCampaign))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, CodeNotFound, "No such endpoint.", "core", nil)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withTrace(r)
		// ServeMux answers a wrong method with a plain-text 405; keep the
		// envelope instead.
		if _, pattern := mux.Handler(r); pattern == "" {
			if r.URL.Path == "/c/v1/campaigns/batch" {
				w.Header().Set("Allow", "POST")
				writeError(w, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "Method not allowed.", "core", nil)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

type principalKey struct{}

func principal(ctx context.Context) postgres.Principal {
	p, _ := ctx.Value(principalKey{}).(postgres.Principal)
	return p
}

// authed requires a valid key, and scope when it is not empty.
func (s *Server) authed(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Auth.Authenticate(r.Context(), r.Header.Get("X-API-KEY"))
		if err != nil {
			if !errors.Is(err, postgres.ErrNotFound) {
				s.Log.Error("authenticate", "err", err, "trace_id", TraceID(r.Context()))
				writeError(w, r, http.StatusServiceUnavailable, CodeUnavailable, "The service is temporarily unavailable.", "core", nil)
				return
			}
			writeError(w, r, http.StatusUnauthorized, CodeInvalidAPIKey, "The provided API key is invalid or has been revoked.", "core", nil)
			return
		}
		if scope != "" && !p.HasScope(scope) {
			writeError(w, r, http.StatusForbidden, CodeInsufficientScope, "The API key lacks the required scope: "+scope+".", "core", nil)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

func (s *Server) postBatch(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, r, http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json.", "core", nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, r, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "The request body exceeds 1 MiB.", "core", nil)
			return
		}
		writeError(w, r, http.StatusBadRequest, CodeMalformedJSON, "The request body could not be read.", "core", nil)
		return
	}
	req, ferrs := campaign.ParseRequest(body)
	if ferrs != nil {
		if msg, ok := ferrs["body"]; ok && len(ferrs) == 1 {
			writeError(w, r, http.StatusBadRequest, CodeMalformedJSON, msg, "core", nil)
			return
		}
		writeError(w, r, http.StatusUnprocessableEntity, CodeValidation, "One or more fields failed validation.", "core", ferrs)
		return
	}
	p := principal(r.Context())
	id, err := s.Accept.Accept(r.Context(), accept.Caller{OrgID: p.OrgID, APIKeyID: p.KeyID, TraceID: TraceID(r.Context())}, req)
	switch {
	case errors.Is(err, accept.ErrUnknownSender):
		writeError(w, r, http.StatusUnprocessableEntity, CodeValidation, "One or more fields failed validation.", "core",
			map[string]string{"remitter_id": "Sender ID not found or not approved for this organisation."})
		return
	case err != nil:
		s.Log.Error("accept campaign", "err", err, "trace_id", TraceID(r.Context()))
		writeError(w, r, http.StatusServiceUnavailable, CodeUnavailable, "The campaign could not be recorded; it was not accepted. Retry later.", "core", nil)
		return
	}
	s.Log.Info("campaign accepted", "campaign_id", id, "org_id", p.OrgID, "recipients", len(req.Recipients), "trace_id", TraceID(r.Context()))
	writeJSON(w, http.StatusAccepted, map[string]string{
		"message":     "Campaign accepted and is pending processing.",
		"campaign_id": id.String(),
	})
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("campaign_id"))
	if err != nil {
		writeError(w, r, http.StatusNotFound, CodeNotFound, "Campaign not found.", "core", nil)
		return
	}
	v, err := s.Campaigns.Get(r.Context(), principal(r.Context()).OrgID, id)
	switch {
	case errors.Is(err, campaigns.ErrNotFound):
		writeError(w, r, http.StatusNotFound, CodeNotFound, "Campaign not found.", "core", nil)
	case err != nil:
		s.Log.Error("get campaign", "err", err, "trace_id", TraceID(r.Context()))
		writeError(w, r, http.StatusServiceUnavailable, CodeUnavailable, "The service is temporarily unavailable.", "core", nil)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/problem"
)

func (s *Server) commandRoutes(mux *Mux) {
	// Every authenticated request counts against the key's limit, whatever
	// its scope or body: see ratelimit.go.
	mux.HandleFunc("POST /c/v1/campaigns/batch", s.authed("", s.limited(requireScope(apikey.ScopeCampaignSend, s.postBatch))))
	// The contract is served beside the endpoint it chiefly describes.
	s.specRoutes(mux)
}

// requireScope refuses a key without scope with 403.
func requireScope(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := principal(r.Context()); !p.HasScope(scope) {
			requestLog(r.Context()).Info("authorization refused", "method", r.Method, "path", r.URL.Path, "scope", scope,
				"org_id", p.OrgID, "key_id", p.KeyID, "trace_id", TraceID(r.Context()))
			respond(w, r, missingScope(scope))
			return
		}
		h(w, r)
	}
}

// Messages of the batch endpoint's answers.
const (
	msgAccepted = "Campaign accepted and is pending processing."
)

// postBatch is POST /c/v1/campaigns/batch. The checks run cheapest first,
// and every refusal happens before anything is appended.
func (s *Server) postBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p := principal(r.Context())
	status, code := 0, ""
	defer func() {
		s.Log.Info("batch request", "status", status, "code", code, "org_id", p.OrgID, "key_id", p.KeyID,
			"trace_id", TraceID(r.Context()), "duration_ms", time.Since(start).Milliseconds())
	}()

	body, idemKey, refused := readCommand(w, r, MaxBodyBytes, fmt.Sprintf("%d bytes (1 MiB)", MaxBodyBytes))
	if refused == nil {
		var res accept.Result
		if res, refused = s.submit(r.Context(), p, TraceID(r.Context()), body, idemKey); refused == nil {
			status = http.StatusAccepted
			if res.Replayed {
				w.Header().Set("Idempotent-Replayed", "true")
			}
			writeJSON(w, http.StatusAccepted, map[string]string{
				"message":     msgAccepted,
				"campaign_id": res.CampaignID.String(),
			})
			return
		}
	}
	status, code = Status(refused), string(refused.Code)
	respond(w, r, refused)
}

// readCommand does what every command endpoint does first, cheapest check
// first: a JSON content type, a well-formed Idempotency-Key, and a body of
// at most limit bytes that arrives in time.
func readCommand(w http.ResponseWriter, r *http.Request, limit int64, limitText string) (body []byte, idemKey string, refused *problem.Error) {
	if !jsonContentType(r.Header.Get("Content-Type")) {
		return nil, "", errUnsupportedMedia
	}
	idemKey, msg := idempotencyKey(r.Header)
	if msg != "" {
		return nil, "", problem.New(problem.CodeInvalidIdempotencyKey, msg)
	}
	body, refused = readBody(w, r, limit, limitText)
	if refused != nil {
		return nil, "", refused
	}
	return body, idemKey, nil
}

// notRecorded is the answer to a command the service failed to record.
func notRecorded(what string) *problem.Error {
	return problem.New(problem.CodeUnavailable, "The "+what+" could not be recorded; it was not accepted. Retry later.").
		WithRetryAfter(time.Second)
}

// jsonContentType accepts application/json with no charset or UTF-8, the
// only encoding JSON has (RFC 8259).
func jsonContentType(h string) bool {
	mt, params, err := mime.ParseMediaType(h)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// SubmitBatch runs the batch command for an already authenticated key, as
// POST /c/v1/campaigns/batch does after reading the body: the key's rate
// limit and scope, validation, the sender, the funds check and
// Idempotency-Key, with the same refusals (Status gives each one's HTTP
// status). Other front ends (the dashboard) submit through it so that a
// campaign is accepted, refused and worded the same way whichever way it
// arrives.
func (s *Server) SubmitBatch(ctx context.Context, p postgres.Principal, traceID string, body []byte, idemKey string) (accept.Result, *problem.Error) {
	if s.Limiter != nil {
		limit := p.RatePerMinute
		if limit <= 0 {
			limit = defaultRate
		}
		win, err := s.Limiter.Take(ctx, p.KeyID, limit, rateWindow)
		if err != nil {
			s.Log.Error("rate limit", "err", err, "trace_id", traceID)
			return accept.Result{}, errUnavailable.WithRetryAfter(time.Second)
		}
		if !win.Allowed {
			return accept.Result{}, rateLimited(win, "minute")
		}
	}
	if !p.HasScope(apikey.ScopeCampaignSend) {
		return accept.Result{}, missingScope(apikey.ScopeCampaignSend)
	}
	if msg := checkIdempotencyKey(idemKey); idemKey != "" && msg != "" {
		return accept.Result{}, problem.New(problem.CodeInvalidIdempotencyKey, msg)
	}
	return s.submit(ctx, p, traceID, body, idemKey)
}

// submit validates a batch body and accepts it.
func (s *Server) submit(ctx context.Context, p postgres.Principal, traceID string, body []byte, idemKey string) (accept.Result, *problem.Error) {
	req, ferrs := ParseBatch(body)
	if ferrs != nil {
		return accept.Result{}, parseRefusal(body, ferrs)
	}
	if err := campaign.CheckSchedule(req, time.Now()); err != nil {
		return accept.Result{}, s.problemOf(ctx, "check schedule", err, errUnavailable)
	}
	res, err := s.Accept.Accept(ctx, accept.Caller{OrgID: p.OrgID, APIKeyID: p.KeyID, TraceID: traceID}, req, idemKey)
	if err != nil {
		return res, s.problemOf(ctx, "accept campaign", err, notRecorded("campaign"))
	}
	return res, nil
}

// parseRefusal is the refusal of a body that did not parse: not JSON, not
// an object, or fields that failed validation.
func parseRefusal(body []byte, ferrs map[string]string) *problem.Error {
	if bodyMsg, ok := ferrs[fieldBody]; ok && len(ferrs) == 1 {
		if !json.Valid(body) {
			return problem.New(problem.CodeMalformedJSON, "The request body is not valid JSON. "+bodyMsg+".")
		}
		return problem.New(problem.CodeInvalidBodyType, "The request body must be a JSON object.").WithFields(ferrs)
	}
	return problem.InvalidFields(ferrs)
}

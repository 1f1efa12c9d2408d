package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/campaign"
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
			writeError(w, r, http.StatusForbidden, CodeInsufficientScope, "The API key lacks the required scope: "+scope+".", ServiceCore, nil)
			return
		}
		h(w, r)
	}
}

// Messages of the batch endpoint's refusals, as the API reference words
// them where it shows them.
const (
	msgValidation = "One or more fields failed validation."
	msgFunds      = "Your account balance is too low to process this batch request. Please top up your credits."
	msgAccepted   = "Campaign accepted and is pending processing."
)

// postBatch is POST /c/v1/campaigns/batch. The checks run cheapest first,
// and every refusal happens before anything is appended.
func (s *Server) postBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p := principal(r.Context())
	status, code := 0, ""
	refuse := func(st int, c, msg, service string, fields map[string]string) {
		status, code = st, c
		writeError(w, r, st, c, msg, service, fields)
	}
	defer func() {
		s.Log.Info("batch request", "status", status, "code", code, "org_id", p.OrgID, "key_id", p.KeyID,
			"trace_id", TraceID(r.Context()), "duration_ms", time.Since(start).Milliseconds())
	}()

	if !jsonContentType(r.Header.Get("Content-Type")) {
		refuse(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"Content-Type must be application/json (UTF-8).", ServiceCore, nil)
		return
	}
	idemKey, msg := idempotencyKey(r.Header)
	if msg != "" {
		refuse(http.StatusBadRequest, CodeInvalidIdempotencyKey, msg, ServiceCore, nil)
		return
	}
	body, problem := readBody(w, r, MaxBodyBytes, fmt.Sprintf("%d bytes (1 MiB)", MaxBodyBytes))
	if problem != nil {
		refuse(problem.status, problem.code, problem.message, ServiceCore, nil)
		return
	}
	res, ref := s.submit(r.Context(), p, TraceID(r.Context()), body, idemKey)
	if ref != nil {
		if ref.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ref.RetryAfter))
		}
		refuse(ref.Status, ref.Code, ref.Message, ref.Service, ref.Fields)
		return
	}
	status = http.StatusAccepted
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, map[string]string{
		"message":     msgAccepted,
		"campaign_id": res.CampaignID.String(),
	})
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

func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// Refusal is a refused command as the API answers it: the envelope's
// status, code, message, service and field errors.
type Refusal struct {
	Status     int
	Code       string
	Message    string
	Service    string
	Fields     map[string]string
	RetryAfter int // seconds, when the client should retry
}

// SubmitBatch runs the batch command for an already authenticated key, as
// POST /c/v1/campaigns/batch does after reading the body: the key's rate
// limit and scope, validation, the sender, the funds check and
// Idempotency-Key, with the same refusals. Other front ends (the
// dashboard) submit through it so that a campaign is accepted, refused and
// worded the same way whichever way it arrives.
func (s *Server) SubmitBatch(ctx context.Context, p postgres.Principal, traceID string, body []byte, idemKey string) (accept.Result, *Refusal) {
	if s.Limiter != nil {
		limit := p.RatePerMinute
		if limit <= 0 {
			limit = defaultRate
		}
		win, err := s.Limiter.Take(ctx, p.KeyID, limit, rateWindow)
		if err != nil {
			s.Log.Error("rate limit", "err", err, "trace_id", traceID)
			return accept.Result{}, &Refusal{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Message: "The service is temporarily unavailable.", Service: ServiceCore, RetryAfter: 1}
		}
		if !win.Allowed {
			reset := ceilSeconds(win.Reset.Sub(win.Now))
			return accept.Result{}, &Refusal{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
				Message: "Rate limit of " + strconv.Itoa(win.Limit) + " requests per minute exceeded for this API key. Retry after " +
					strconv.Itoa(reset) + " seconds.", Service: ServiceRateLimit, RetryAfter: reset}
		}
	}
	if !p.HasScope(apikey.ScopeCampaignSend) {
		return accept.Result{}, &Refusal{Status: http.StatusForbidden, Code: CodeInsufficientScope,
			Message: "The API key lacks the required scope: " + apikey.ScopeCampaignSend + ".", Service: ServiceCore}
	}
	if msg := checkIdempotencyKey(idemKey); idemKey != "" && msg != "" {
		return accept.Result{}, &Refusal{Status: http.StatusBadRequest, Code: CodeInvalidIdempotencyKey, Message: msg, Service: ServiceCore}
	}
	return s.submit(ctx, p, traceID, body, idemKey)
}

// submit validates a batch body and accepts it.
func (s *Server) submit(ctx context.Context, p postgres.Principal, traceID string, body []byte, idemKey string) (accept.Result, *Refusal) {
	refusal := func(st int, c, msg, service string, fields map[string]string) *Refusal {
		return &Refusal{Status: st, Code: c, Message: msg, Service: service, Fields: fields}
	}
	req, ferrs := campaign.ParseRequest(body)
	if ferrs != nil {
		if bodyMsg, ok := ferrs["body"]; ok && len(ferrs) == 1 {
			if !json.Valid(body) {
				return accept.Result{}, refusal(http.StatusBadRequest, CodeMalformedJSON, "The request body is not valid JSON. "+bodyMsg+".", ServiceCore, nil)
			}
			return accept.Result{}, refusal(http.StatusUnprocessableEntity, CodeInvalidBodyType, "The request body must be a JSON object.", ServiceCore, ferrs)
		}
		return accept.Result{}, refusal(http.StatusUnprocessableEntity, CodeValidation, msgValidation, ServiceCore, ferrs)
	}
	if req.SendAt != nil {
		if err := campaign.CheckSendAt(*req.SendAt, time.Now()); err != nil {
			return accept.Result{}, refusal(http.StatusUnprocessableEntity, CodeValidation, msgValidation, ServiceCore,
				map[string]string{campaign.FieldSendAt: "Value error, " + err.Error() + "."})
		}
	}

	res, err := s.Accept.Accept(ctx, accept.Caller{OrgID: p.OrgID, APIKeyID: p.KeyID, TraceID: traceID}, req, idemKey)
	var funds *accept.InsufficientFundsError
	var busy *accept.InProgressError
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, accept.ErrUnknownSender):
		return res, refusal(http.StatusUnprocessableEntity, CodeValidation, msgValidation, ServiceCore,
			map[string]string{"remitter_id": "Sender ID not found or not approved for this organisation."})
	case errors.As(err, &funds):
		return res, refusal(http.StatusPaymentRequired, CodeInsufficientFunds, msgFunds, ServiceBilling, nil)
	case errors.Is(err, accept.ErrIdempotencyKeyReused):
		return res, refusal(http.StatusUnprocessableEntity, CodeIdempotencyKeyReused,
			"This Idempotency-Key was already used with a different request body.", ServiceCore, nil)
	case errors.As(err, &busy):
		ref := refusal(http.StatusConflict, CodeIdempotencyInProgress,
			"A request with this Idempotency-Key is still being processed. Retry later.", ServiceCore, nil)
		ref.RetryAfter = ceilSeconds(busy.RetryAfter)
		return res, ref
	default:
		s.Log.Error("accept campaign", "err", err, "trace_id", traceID)
		ref := refusal(http.StatusServiceUnavailable, CodeUnavailable,
			"The campaign could not be recorded; it was not accepted. Retry later.", ServiceCore, nil)
		ref.RetryAfter = 1
		return res, ref
	}
}

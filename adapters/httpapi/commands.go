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
	defer func() {
		s.Log.Info("batch request", "status", status, "code", code, "org_id", p.OrgID, "key_id", p.KeyID,
			"trace_id", TraceID(r.Context()), "duration_ms", time.Since(start).Milliseconds())
	}()

	body, idemKey, ref := readCommand(w, r, MaxBodyBytes, fmt.Sprintf("%d bytes (1 MiB)", MaxBodyBytes))
	if ref == nil {
		var res accept.Result
		if res, ref = s.submit(r.Context(), p, TraceID(r.Context()), body, idemKey); ref == nil {
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
	status, code = ref.Status, ref.Code
	ref.write(w, r)
}

// write answers with the refusal in the error envelope.
func (ref *Refusal) write(w http.ResponseWriter, r *http.Request) {
	if ref.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ref.RetryAfter))
	}
	writeError(w, r, ref.Status, ref.Code, ref.Message, ref.Service, ref.Fields)
}

// readCommand does what every command endpoint does first, cheapest check
// first: a JSON content type, a well-formed Idempotency-Key, and a body of
// at most limit bytes that arrives in time.
func readCommand(w http.ResponseWriter, r *http.Request, limit int64, limitText string) (body []byte, idemKey string, ref *Refusal) {
	if !jsonContentType(r.Header.Get("Content-Type")) {
		return nil, "", &Refusal{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia,
			Message: "Content-Type must be application/json (UTF-8).", Service: ServiceCore}
	}
	idemKey, msg := idempotencyKey(r.Header)
	if msg != "" {
		return nil, "", &Refusal{Status: http.StatusBadRequest, Code: CodeInvalidIdempotencyKey, Message: msg, Service: ServiceCore}
	}
	body, problem := readBody(w, r, limit, limitText)
	if problem != nil {
		return nil, "", &Refusal{Status: problem.status, Code: problem.code, Message: problem.message, Service: ServiceCore}
	}
	return body, idemKey, nil
}

// parseRefusal is the refusal of a body that did not parse: not JSON, not
// an object, or fields that failed validation.
func parseRefusal(body []byte, ferrs map[string]string) *Refusal {
	if bodyMsg, ok := ferrs["body"]; ok && len(ferrs) == 1 {
		if !json.Valid(body) {
			return &Refusal{Status: http.StatusBadRequest, Code: CodeMalformedJSON,
				Message: "The request body is not valid JSON. " + bodyMsg + ".", Service: ServiceCore}
		}
		return &Refusal{Status: http.StatusUnprocessableEntity, Code: CodeInvalidBodyType,
			Message: "The request body must be a JSON object.", Service: ServiceCore, Fields: ferrs}
	}
	return &Refusal{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Message: msgValidation, Service: ServiceCore, Fields: ferrs}
}

// acceptRefusal maps an error of the accept service to its answer; what
// names the thing that was not recorded ("campaign", "message") and funds
// is the 402's message. It logs what it cannot name.
func (s *Server) acceptRefusal(err error, what, funds, traceID string) *Refusal {
	var short *accept.InsufficientFundsError
	var busy *accept.InProgressError
	switch {
	case errors.Is(err, accept.ErrUnknownSender):
		return &Refusal{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Message: msgValidation, Service: ServiceCore,
			Fields: map[string]string{"remitter_id": "Sender ID not found or not approved for this organisation."}}
	case errors.Is(err, accept.ErrUnroutable):
		return &Refusal{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Message: msgValidation, Service: ServiceCore,
			Fields: map[string]string{"recipient": "Value error, no provider delivers to this number."}}
	case errors.As(err, &short):
		return &Refusal{Status: http.StatusPaymentRequired, Code: CodeInsufficientFunds, Message: funds, Service: ServiceBilling}
	case errors.Is(err, accept.ErrIdempotencyKeyReused):
		return &Refusal{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
			Message: "This Idempotency-Key was already used with a different request body.", Service: ServiceCore}
	case errors.As(err, &busy):
		return &Refusal{Status: http.StatusConflict, Code: CodeIdempotencyInProgress,
			Message: "A request with this Idempotency-Key is still being processed. Retry later.", Service: ServiceCore,
			RetryAfter: ceilSeconds(busy.RetryAfter)}
	default:
		s.Log.Error("accept "+what, "err", err, "trace_id", traceID)
		return &Refusal{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "The " + what + " could not be recorded; it was not accepted. Retry later.", Service: ServiceCore, RetryAfter: 1}
	}
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
	req, ferrs := campaign.ParseRequest(body)
	if ferrs != nil {
		return accept.Result{}, parseRefusal(body, ferrs)
	}
	if req.SendAt != nil {
		if err := campaign.CheckSendAt(*req.SendAt, time.Now()); err != nil {
			return accept.Result{}, &Refusal{Status: http.StatusUnprocessableEntity, Code: CodeValidation, Message: msgValidation,
				Service: ServiceCore, Fields: map[string]string{campaign.FieldSendAt: "Value error, " + err.Error() + "."}}
		}
	}

	res, err := s.Accept.Accept(ctx, accept.Caller{OrgID: p.OrgID, APIKeyID: p.KeyID, TraceID: traceID}, req, idemKey)
	if err != nil {
		return res, s.acceptRefusal(err, "campaign", msgFunds, traceID)
	}
	return res, nil
}

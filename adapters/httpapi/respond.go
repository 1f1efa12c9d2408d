package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/webhook"
	"ziett.co/campaigns/projections/campaigns"
)

// answer is how the API answers a class of problem: the HTTP status and
// the component the envelope names as the one that refused.
type answer struct {
	status  int
	service string
}

// answers is the one map from a problem's class to its HTTP answer.
var answers = map[problem.Class]answer{
	problem.Invalid:           {http.StatusUnprocessableEntity, ServiceCore},
	problem.Malformed:         {http.StatusBadRequest, ServiceCore},
	problem.Unauthorized:      {http.StatusUnauthorized, ServiceCore},
	problem.Forbidden:         {http.StatusForbidden, ServiceCore},
	problem.NotFound:          {http.StatusNotFound, ServiceCore},
	problem.MethodNotAllowed:  {http.StatusMethodNotAllowed, ServiceCore},
	problem.Timeout:           {http.StatusRequestTimeout, ServiceCore},
	problem.Conflict:          {http.StatusConflict, ServiceCore},
	problem.TooLarge:          {http.StatusRequestEntityTooLarge, ServiceCore},
	problem.UnsupportedMedia:  {http.StatusUnsupportedMediaType, ServiceCore},
	problem.InsufficientFunds: {http.StatusPaymentRequired, ServiceBilling},
	problem.RateLimited:       {http.StatusTooManyRequests, ServiceRateLimit},
	problem.Unavailable:       {http.StatusServiceUnavailable, ServiceCore},
}

// Status is the HTTP status the API answers p with.
func Status(p *problem.Error) int { return answerTo(p).status }

func answerTo(p *problem.Error) answer {
	if a, ok := answers[p.Class()]; ok {
		return a
	}
	return answers[problem.Unavailable]
}

// Problems the API answers itself.
var (
	errUnavailable      = problem.New(problem.CodeUnavailable, "The service is temporarily unavailable.")
	errNoSuchEndpoint   = problem.New(problem.CodeNotFound, "No such endpoint.")
	errMethodNotAllowed = problem.New(problem.CodeMethodNotAllowed, "Method not allowed.")
	errInvalidAPIKey    = problem.New(problem.CodeInvalidAPIKey, "The provided API key is invalid or has been revoked.")
	errUnsupportedMedia = problem.New(problem.CodeUnsupportedMedia, "Content-Type must be application/json (UTF-8).")
	errCampaignNotFound = problem.New(problem.CodeNotFound, "Campaign not found.")
	errMessageNotFound  = problem.New(problem.CodeNotFound, "Message not found.")
	errWebhookNotFound  = problem.New(problem.CodeNotFound, "Webhook endpoint not found.")
	errDeliveryNotFound = problem.New(problem.CodeNotFound, "Webhook delivery not found.")
	errNotSuppressed    = problem.New(problem.CodeNotFound, "The number is not on the suppression list.")
	msgInvalidQuery     = "One or more query parameters failed validation."
)

// missingScope refuses a key that lacks scope (one scope, or "one of …").
func missingScope(scope string) *problem.Error {
	return problem.New(problem.CodeInsufficientScope, "The API key lacks the required scope: "+scope+".")
}

// invalidQuery refuses query parameters that break the rules.
func invalidQuery(fields map[string]string) *problem.Error {
	return problem.InvalidFields(fields).WithMessage(msgInvalidQuery)
}

// known are the not-found errors of the read models and stores, which are
// problems for the API: a missing campaign, webhook endpoint or delivery.
// (Command services return problems themselves.)
var known = []struct {
	err error
	p   *problem.Error
}{
	{campaigns.ErrNotFound, errCampaignNotFound},
	{webhook.ErrNotFound, errWebhookNotFound},
	{webhook.ErrDeliveryNotFound, errDeliveryNotFound},
}

// Problem returns the problem err is, wraps or stands for, or nil when err
// is the service's own failure.
func Problem(err error) *problem.Error {
	if p, ok := problem.As(err); ok {
		return p
	}
	for _, k := range known {
		if errors.Is(err, k.err) {
			return k.p.Because(err)
		}
	}
	return nil
}

// problemOf is Problem(err), or fallback for the service's own failures,
// which it logs as what.
func (s *Server) problemOf(ctx context.Context, what string, err error, fallback *problem.Error) *problem.Error {
	if p := Problem(err); p != nil {
		return p
	}
	s.Log.Error(what, "err", err, "trace_id", TraceID(ctx))
	return fallback
}

// fail answers err in the error envelope: its problem, or 503 for the
// service's own failures, which it logs as what.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	respond(w, r, s.problemOf(r.Context(), what, err, errUnavailable))
}

// respond is the one writer of the error envelope: the status and service
// by p's class, Retry-After when p says when to retry.
func respond(w http.ResponseWriter, r *http.Request, p *problem.Error) {
	a := answerTo(p)
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(p.RetryAfter)))
	}
	writeEnvelope(w, r, a.status, string(p.Code), p.Message, a.service, p.Fields)
}

func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

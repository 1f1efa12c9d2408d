package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"ziett.co/campaigns/commands/webhooks"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/webhook"
	"ziett.co/campaigns/projections/campaigns"
)

// Each class of problem has one HTTP status and names one service, as the
// API reference and the earlier handlers answered them.
func TestEveryClassHasItsStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		class   problem.Class
		status  int
		service string
	}{
		{"a rule broken by the input is 422", problem.Invalid, 422, "core"},
		{"a request that cannot be read is 400", problem.Malformed, 400, "core"},
		{"a missing or revoked key is 401", problem.Unauthorized, 401, "core"},
		{"a key without the scope is 403", problem.Forbidden, 403, "core"},
		{"something missing or another organisation's is 404", problem.NotFound, 404, "core"},
		{"an operation the path lacks is 405", problem.MethodNotAllowed, 405, "core"},
		{"a body that does not arrive in time is 408", problem.Timeout, 408, "core"},
		{"a conflict with the current state is 409", problem.Conflict, 409, "core"},
		{"a body over the limit is 413", problem.TooLarge, 413, "core"},
		{"a content type other than JSON is 415", problem.UnsupportedMedia, 415, "core"},
		{"too little money is 402 from billing", problem.InsufficientFunds, 402, "billing"},
		{"too many requests is 429 from the rate limiter", problem.RateLimited, 429, "ratelimit"},
		{"the service's own failure is 503", problem.Unavailable, 503, "core"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := answers[tc.class]
			if !ok || a.status != tc.status || a.service != tc.service {
				t.Fatalf("%s answers %+v (%v), want %d from %s", tc.class, a, ok, tc.status, tc.service)
			}
		})
	}
	for _, c := range problem.Classes() {
		if _, ok := answers[c]; !ok {
			t.Errorf("class %s has no answer", c)
		}
	}
}

// respond writes the envelope by the problem's class, with Retry-After
// when the problem says when to retry.
func TestRespondWritesTheEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name       string
		p          *problem.Error
		status     int
		retryAfter string
	}{
		{"a validation error carries its fields", problem.InvalidFields(map[string]string{"name": "Field required"}), 422, ""},
		{"a wait of a fraction of a second is rounded up", problem.New(problem.CodeIdempotencyInProgress, "Busy.").WithRetryAfter(1500 * time.Millisecond), 409, "2"},
		{"an unavailable service asks for a retry in a second", errUnavailable.WithRetryAfter(time.Second), 503, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := withTrace(httptest.NewRequest(http.MethodGet, "/c/v1/x", nil))
			respond(w, r, tc.p)
			var env Envelope
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || env.Status != tc.status || env.Code != string(tc.p.Code) || env.Message != tc.p.Message ||
				len(env.Fields) != len(tc.p.Fields) || env.TraceID != TraceID(r.Context()) || env.TraceID == "" {
				t.Fatalf("answered %d %+v for %v", w.Code, env, tc.p)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
			}
		})
	}
}

// The read models' and stores' errors are problems for the API; any
// other error is not, and is answered as the service's own failure.
func TestProblemOfKnownErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code problem.Code
		msg  string
	}{
		{"a missing campaign", fmt.Errorf("get: %w", campaigns.ErrNotFound), problem.CodeNotFound, "Campaign not found."},
		{"a missing webhook endpoint", webhook.ErrNotFound, problem.CodeNotFound, "Webhook endpoint not found."},
		{"a missing delivery", webhook.ErrDeliveryNotFound, problem.CodeNotFound, "Webhook delivery not found."},
		{"too many endpoints", webhooks.ErrLimit, problem.CodeWebhookLimit, fmt.Sprintf("An organisation can have at most %d webhook endpoints; delete one first.", webhooks.MaxEndpoints)},
		{"a disabled endpoint", webhooks.ErrDisabled, problem.CodeWebhookDisabled, "The webhook endpoint is disabled; enable it before resending."},
		{"a problem is itself", errInvalidAPIKey, problem.CodeInvalidAPIKey, "The provided API key is invalid or has been revoked."},
		{"any other error is none", errors.New("connection refused"), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Problem(tc.err)
			if tc.code == "" {
				if p != nil {
					t.Fatalf("Problem(%v) = %v, want none", tc.err, p)
				}
				return
			}
			if p == nil || p.Code != tc.code || p.Message != tc.msg || !errors.Is(p, tc.err) && p != tc.err {
				t.Fatalf("Problem(%v) = %v, want %s %q", tc.err, p, tc.code, tc.msg)
			}
		})
	}
}

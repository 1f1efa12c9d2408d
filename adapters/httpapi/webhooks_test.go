package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi/contract"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/apikey"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// whKey issues a key of the demo organisation with the webhooks scope.
func whKey(t *testing.T, e *servicetest.Env, org uuid.UUID) string {
	t.Helper()
	_, key, err := e.Stack.Admin.Dir.CreateKey(t.Context(), org, "webhooks", []string{apikey.ScopeWebhooksManage})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func whCreate(t *testing.T, e *servicetest.Env, key string, body any) map[string]any {
	t.Helper()
	r := e.Do(http.MethodPost, "/c/v1/webhooks", key, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /c/v1/webhooks: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

var secretFormat = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

// An endpoint is created with its secret shown once, listed and read
// without it, rotated, and deleted.
func TestWebhookEndpointLifecycle(t *testing.T) {
	e := servicetest.Start(t)
	e.HTTP.Transport = contract.Transport{T: t, Spec: contract.Load(t)}
	key := whKey(t, e, e.Demo.OrgID)
	r := e.Do(http.MethodPost, "/c/v1/webhooks", key, map[string]any{
		"url": "https://hooks.example.com/ziett", "description": "CRM", "event_types": []string{"campaign.completed", "campaign.failed", "campaign.completed"},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ep := r.JSON(t)
	id := ep["webhook_id"].(string)
	if r.Header.Get("Location") != "/c/v1/webhooks/"+id {
		t.Errorf("Location = %q", r.Header.Get("Location"))
	}
	if s, _ := ep["secret"].(string); !secretFormat.MatchString(s) {
		t.Errorf("secret %q is not whsec_ and the base64 of 32 bytes", s)
	}
	if types := ep["event_types"].([]any); len(types) != 2 || ep["status"] != "ENABLED" || ep["description"] != "CRM" {
		t.Errorf("created endpoint = %v", ep)
	}

	r = e.Do(http.MethodGet, "/c/v1/webhooks", key, nil)
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), "whsec_") || !strings.Contains(string(r.Body), id) {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	r = e.Do(http.MethodGet, "/c/v1/webhooks/"+id, key, nil)
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), "whsec_") {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	if all := whCreate(t, e, key, map[string]any{"url": "http://127.0.0.1:9/x"})["event_types"].([]any); len(all) != len(whproj.EventTypes) {
		t.Errorf("event_types defaulted to %v, want every campaign event %v", all, whproj.EventTypes)
	}

	r = e.Do(http.MethodPost, "/c/v1/webhooks/"+id+"/secret/rotate", key, map[string]any{"previous_secret_expires_in": 3600})
	if r.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	rot := r.JSON(t)
	if rot["secret"] == ep["secret"] || !secretFormat.MatchString(rot["secret"].(string)) || rot["previous_secret_expires_at"] == nil {
		t.Errorf("rotation = %v", rot)
	}
	r = e.Do(http.MethodGet, "/c/v1/webhooks/"+id+"/deliveries", key, nil)
	if r.Status != http.StatusOK || string(r.Body) != `{"data":[],"has_more":false,"next_cursor":null}`+"\n" {
		t.Errorf("deliveries of a new endpoint: %d %s", r.Status, r.Body)
	}

	if r = e.Do(http.MethodDelete, "/c/v1/webhooks/"+id, key, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if r = e.Do(m, "/c/v1/webhooks/"+id, key, nil); r.Status != http.StatusNotFound || r.JSON(t)["code"] != "NOT_FOUND" {
			t.Errorf("%s after delete: %d %s", m, r.Status, r.Body)
		}
	}
}

// Every bad request gets the error envelope with a clear reason.
func TestWebhookEndpointsRefuseBadInput(t *testing.T) {
	e := servicetest.Start(t)
	e.HTTP.Transport = contract.Transport{T: t, Spec: contract.Load(t)}
	key := whKey(t, e, e.Demo.OrgID)
	id := whCreate(t, e, key, map[string]any{"url": "https://hooks.example.com/a"})["webhook_id"].(string)
	long := "https://example.com/" + strings.Repeat("a", 2048)
	for _, c := range []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		code, field        string
	}{
		{"no url", "POST", "/c/v1/webhooks", map[string]any{}, nil, 422, "VALIDATION_ERROR", "url"},
		{"url not a string", "POST", "/c/v1/webhooks", map[string]any{"url": 5}, nil, 422, "VALIDATION_ERROR", "url"},
		{"relative url", "POST", "/c/v1/webhooks", map[string]any{"url": "/hooks"}, nil, 422, "VALIDATION_ERROR", "url"},
		{"ftp url", "POST", "/c/v1/webhooks", map[string]any{"url": "ftp://example.com/x"}, nil, 422, "VALIDATION_ERROR", "url"},
		{"credentials", "POST", "/c/v1/webhooks", map[string]any{"url": "https://u:p@example.com/x"}, nil, 422, "VALIDATION_ERROR", "url"},
		{"fragment", "POST", "/c/v1/webhooks", map[string]any{"url": "https://example.com/x#y"}, nil, 422, "VALIDATION_ERROR", "url"},
		{"no host", "POST", "/c/v1/webhooks", map[string]any{"url": "https:///x"}, nil, 422, "VALIDATION_ERROR", "url"},
		{"bad port", "POST", "/c/v1/webhooks", map[string]any{"url": "https://example.com:99999/x"}, nil, 422, "VALIDATION_ERROR", "url"},
		{"long url", "POST", "/c/v1/webhooks", map[string]any{"url": long}, nil, 422, "VALIDATION_ERROR", "url"},
		{"empty event types", "POST", "/c/v1/webhooks", map[string]any{"url": "https://e.com/x", "event_types": []string{}}, nil, 422, "VALIDATION_ERROR", "event_types"},
		{"unknown event type", "POST", "/c/v1/webhooks", map[string]any{"url": "https://e.com/x", "event_types": []string{"campaign.exploded"}}, nil, 422, "VALIDATION_ERROR", "event_types"},
		{"event types not a list", "POST", "/c/v1/webhooks", map[string]any{"url": "https://e.com/x", "event_types": "campaign.failed"}, nil, 422, "VALIDATION_ERROR", "event_types"},
		{"long description", "POST", "/c/v1/webhooks", map[string]any{"url": "https://e.com/x", "description": strings.Repeat("d", 501)}, nil, 422, "VALIDATION_ERROR", "description"},
		{"unknown field", "POST", "/c/v1/webhooks", map[string]any{"url": "https://e.com/x", "secret": "mine"}, nil, 422, "VALIDATION_ERROR", "secret"},
		{"malformed json", "POST", "/c/v1/webhooks", `{"url":`, nil, 400, "MALFORMED_JSON", ""},
		{"array body", "POST", "/c/v1/webhooks", `["https://e.com/x"]`, nil, 422, "INVALID_BODY_TYPE", "body"},
		{"wrong content type", "POST", "/c/v1/webhooks", `{"url":"https://e.com/x"}`, []string{"Content-Type", "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"oversized", "POST", "/c/v1/webhooks", `{"description":"` + strings.Repeat("x", 70_000) + `"}`, nil, 413, "PAYLOAD_TOO_LARGE", ""},
		{"negative keep", "POST", "/c/v1/webhooks/" + id + "/secret/rotate", map[string]any{"previous_secret_expires_in": -1}, nil, 422, "VALIDATION_ERROR", "previous_secret_expires_in"},
		{"keep too long", "POST", "/c/v1/webhooks/" + id + "/secret/rotate", map[string]any{"previous_secret_expires_in": 10_000_000}, nil, 422, "VALIDATION_ERROR", "previous_secret_expires_in"},
		{"keep not a number", "POST", "/c/v1/webhooks/" + id + "/secret/rotate", map[string]any{"previous_secret_expires_in": "1h"}, nil, 422, "VALIDATION_ERROR", "previous_secret_expires_in"},
		{"zero limit", "GET", "/c/v1/webhooks/" + id + "/deliveries?limit=0", nil, nil, 422, "VALIDATION_ERROR", "limit"},
		{"unknown status", "GET", "/c/v1/webhooks/" + id + "/deliveries?status=LOST", nil, nil, 422, "VALIDATION_ERROR", "status"},
		{"foreign cursor", "GET", "/c/v1/webhooks/" + id + "/deliveries?cursor=bm9wZQ", nil, nil, 422, "VALIDATION_ERROR", "cursor"},
		{"unknown parameter", "GET", "/c/v1/webhooks?page=2", nil, nil, 422, "VALIDATION_ERROR", "page"},
		{"wrong method", "PUT", "/c/v1/webhooks/" + id, map[string]any{}, nil, 405, "METHOD_NOT_ALLOWED", ""},
		{"wrong method on list", "PATCH", "/c/v1/webhooks", map[string]any{}, nil, 405, "METHOD_NOT_ALLOWED", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(c.method, c.path, key, c.body, c.hdr...)
			if r.Status != c.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, c.status)
			}
			b := r.JSON(t)
			if b["code"] != c.code || b["status"] != float64(c.status) || len(b["trace_id"].(string)) != 32 {
				t.Fatalf("envelope = %s", r.Body)
			}
			if c.field != "" {
				f, _ := b["fields"].(map[string]any)
				if msg, _ := f[c.field].(string); msg == "" {
					t.Fatalf("fields = %v, want a message for %q", f, c.field)
				}
			}
		})
	}
}

// Keys without the scope are refused; another organisation's endpoints
// and deliveries do not exist for the caller; the endpoint count is
// bounded.
func TestWebhookEndpointsAreScoped(t *testing.T) {
	e := servicetest.Start(t)
	e.HTTP.Transport = contract.Transport{T: t, Spec: contract.Load(t)}
	key := whKey(t, e, e.Demo.OrgID)
	id := whCreate(t, e, key, map[string]any{"url": "https://hooks.example.com/a"})["webhook_id"].(string)

	if r := e.Do(http.MethodGet, "/c/v1/webhooks", e.Demo.APIKey, nil); r.Status != http.StatusForbidden || r.JSON(t)["code"] != "AUTH_INSUFFICIENT_SCOPE" {
		t.Errorf("key without the scope: %d %s", r.Status, r.Body)
	}
	if r := e.Do(http.MethodPost, "/c/v1/webhooks", "", map[string]any{"url": "https://e.com"}); r.Status != http.StatusUnauthorized {
		t.Errorf("no key: %d %s", r.Status, r.Body)
	}

	other, err := e.Stack.Admin.CreateDemo(t.Context(), 100, []string{apikey.ScopeWebhooksManage})
	if err != nil {
		t.Fatal(err)
	}
	delivery := uuid.NewString()
	for _, c := range []struct{ method, path string }{
		{"GET", "/c/v1/webhooks/" + id},
		{"DELETE", "/c/v1/webhooks/" + id},
		{"POST", "/c/v1/webhooks/" + id + "/secret/rotate"},
		{"POST", "/c/v1/webhooks/" + id + "/enable"},
		{"GET", "/c/v1/webhooks/" + id + "/deliveries"},
		{"POST", "/c/v1/webhooks/" + id + "/deliveries/" + delivery + "/resend"},
		{"GET", "/c/v1/webhooks/not-a-uuid"},
	} {
		if r := e.Do(c.method, c.path, other.APIKey, nil); r.Status != http.StatusNotFound || r.JSON(t)["message"] != "Webhook endpoint not found." {
			t.Errorf("%s %s by another organisation: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	if r := e.Do(http.MethodGet, "/c/v1/webhooks", other.APIKey, nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), id) {
		t.Errorf("another organisation's list: %d %s", r.Status, r.Body)
	}
	for _, d := range []string{delivery, "x"} {
		r := e.Do(http.MethodPost, "/c/v1/webhooks/"+id+"/deliveries/"+d+"/resend", key, nil)
		if r.Status != http.StatusNotFound || r.JSON(t)["message"] != "Webhook delivery not found." {
			t.Errorf("resend of unknown delivery %s: %d %s", d, r.Status, r.Body)
		}
	}

	for range 19 {
		whCreate(t, e, key, map[string]any{"url": "https://hooks.example.com/more"})
	}
	r := e.Do(http.MethodPost, "/c/v1/webhooks", key, map[string]any{"url": "https://hooks.example.com/21st"})
	if r.Status != http.StatusConflict || r.JSON(t)["code"] != "WEBHOOK_ENDPOINT_LIMIT" {
		t.Fatalf("21st endpoint: %d %s", r.Status, r.Body)
	}
}

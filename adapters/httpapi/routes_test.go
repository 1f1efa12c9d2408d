package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/adapters/webhooks"
	acceptsvc "ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/commands/control"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// refuseAll authenticates no key: every authenticated route answers 401
// without reaching its dependencies.
type refuseAll struct{}

func (refuseAll) Authenticate(context.Context, string) (postgres.Principal, error) {
	return postgres.Principal{}, postgres.ErrNotFound
}

// Which routes must be in the OpenAPI document: every route whose path is
// under /c/v1/ (the API), and every operational route (OpsRoutes:
// /healthz, /readyz, /metrics, which every process serves). Routes
// outside both, such as HTML pages for a browser, are not part of the API
// and are not checked.
func documented(r httpapi.Route, ops []httpapi.Route) bool {
	if strings.HasPrefix(r.Path, "/c/v1/") {
		return true
	}
	return slices.ContainsFunc(ops, func(o httpapi.Route) bool { return o.Path == r.Path })
}

var wildcard = regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)

// docPath turns a ServeMux path into the document's template:
// "{name...}" becomes "{name}" and the end anchor "{$}" goes.
func docPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return wildcard.ReplaceAllString(p, "{$1}")
}

// Every route the API's router registers is in the OpenAPI document, and
// every operation of the document is a registered route. A route that
// answers every request with 405 in the envelope (the fallback that says
// which methods a path has) needs only its path in the document; which
// routes those are is found by calling them.
func TestEveryRouteIsDocumented(t *testing.T) {
	raw, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") })
	srv := &httpapi.Server{
		Auth:           refuseAll{},
		Accept:         &acceptsvc.Service{},
		Campaigns:      campaigns.Reader{},
		Log:            slog.New(slog.DiscardHandler),
		Ops:            httpapi.Ops{Metrics: metrics},
		Limiter:        postgres.RateLimiter{},
		MessageLimiter: postgres.RateLimiter{Table: postgres.MessageWindows},
		Messages:       campaigns.Reader{},
		Balances:       ledger.Reader{},
		Lists:          campaigns.Reader{},
		Trail:          kafkalog.Trail{},
		Webhooks:       webhooks.Registry{},
		// The dashboard's pages are its own mux's; its package checks them
		// against the document's Dashboard operations.
		UI:           http.NotFoundHandler(),
		Control:      control.Service{},
		Suppressions: campaigns.Reader{},
		Consent:      control.Consent{},
	}
	// A route group registers only when its part is set: every part must
	// be, or its routes would escape this test.
	v := reflect.ValueOf(srv).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice:
			if f.IsNil() {
				t.Fatalf("set Server.%s in this test, so that the routes depending on it are registered and checked", v.Type().Field(i).Name)
			}
		}
	}
	ops := httpapi.OpsRoutes(srv.Ops)
	h := srv.Handler()
	routes := srv.Routes()
	registered := map[string]bool{} // "METHOD path" of real operations
	checked := 0
	for _, r := range routes {
		if !documented(r, ops) {
			continue
		}
		checked++
		p := docPath(r.Path)
		item, ok := doc.Paths[p]
		if !ok {
			t.Errorf("route %q: path %s is not in the OpenAPI document (schemas/openapi/)", r.Pattern, p)
			continue
		}
		if r.Method == "" {
			continue
		}
		target := wildcard.ReplaceAllString(strings.TrimSuffix(r.Path, "{$}"), "0b7e7b8e-5a6b-4c1d-9e2f-3a4b5c6d7e8f")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(r.Method, target, nil))
		if rec.Code == http.StatusMethodNotAllowed {
			continue // the envelope's 405 for methods the path does not have
		}
		method := strings.ToLower(r.Method)
		registered[method+" "+p] = true
		if _, ok := item[method]; !ok {
			t.Errorf("route %q: the document has no %s operation on %s", r.Pattern, r.Method, p)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d routes checked; the router walk is broken", checked)
	}
	methods := []string{"get", "put", "post", "delete", "patch", "options", "head", "trace"}
	for p, item := range doc.Paths {
		for m, raw := range item {
			var op struct{ Tags []string }
			json.Unmarshal(raw, &op) //nolint:errcheck
			if slices.Contains(op.Tags, "Dashboard") {
				continue // the dashboard's pages, checked by its own package
			}
			if slices.Contains(methods, m) && !registered[m+" "+p] {
				t.Errorf("the document describes %s %s, which no route serves", strings.ToUpper(m), p)
			}
		}
	}
}

// The document's webhooks section describes a delivery for every event
// type an endpoint can subscribe to, and nothing else.
func TestEveryWebhookEventIsDocumented(t *testing.T) {
	raw, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Webhooks map[string]json.RawMessage `json:"webhooks"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, typ := range whproj.AllEventTypes {
		if _, ok := doc.Webhooks[typ]; !ok {
			t.Errorf("event type %s has no entry in the document's webhooks section", typ)
		}
	}
	for typ := range doc.Webhooks {
		if !slices.Contains(whproj.AllEventTypes, typ) {
			t.Errorf("the document's webhooks section describes %s, which no endpoint can subscribe to", typ)
		}
	}
}

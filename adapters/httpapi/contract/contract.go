// Package contract checks the API's responses against the OpenAPI
// document it serves, so the document and the code cannot drift apart.
// Integration tests route their HTTP client through Transport; the fuzz
// target here checks the batch endpoint's every answer the same way.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"ziett.co/campaigns/adapters/httpapi"
)

// Spec is the assembled OpenAPI document, ready to check responses.
type Spec struct {
	doc    *openapi3.T
	router routers.Router
}

// Load assembles, loads and validates the document, failing t if any of
// that fails.
func Load(t testing.TB) *Spec {
	t.Helper()
	raw, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("document declares OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	// Match any host: tests run on ephemeral ports.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &Spec{doc: doc, router: router}
}

// Check validates one response to req. A request to a method the
// document does not list for its path must get the error envelope.
func (s *Spec) Check(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s %s: %d with a non-JSON body: %q", req.Method, req.URL.Path, status, body)
		}
		if err := s.doc.ValidateSchemaJSON(s.doc.Components.Schemas["Error"].Value, v); err != nil {
			return fmt.Errorf("%s %s (no operation in the document): %d is not the error envelope: %v", req.Method, req.URL.Path, status, err)
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s: response %d does not match the document: %v\nbody: %.500s", req.Method, req.URL.Path, status, err, body)
	}
	return nil
}

// Transport checks every response a test client receives, reporting a
// mismatch as an error of T.
type Transport struct {
	T    testing.TB
	Spec *Spec
	Next http.RoundTripper // http.DefaultTransport when nil
}

func (tr Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := tr.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := tr.Spec.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		tr.T.Error(err)
	}
	return resp, nil
}

// CheckWebhook validates a delivery the service sent to a receiver, its
// headers and its body, against the document's `webhooks` entry for its
// event type.
func (s *Spec) CheckWebhook(eventType string, header http.Header, body []byte) error {
	item, ok := s.doc.Webhooks[eventType]
	if !ok || item.Post == nil {
		return fmt.Errorf("webhook %s: not in the document's webhooks", eventType)
	}
	op := item.Post
	for _, p := range op.Parameters {
		if p.Value == nil || p.Value.In != openapi3.ParameterInHeader {
			continue
		}
		v := header.Get(p.Value.Name)
		if v == "" {
			if p.Value.Required {
				return fmt.Errorf("webhook %s: header %s is missing", eventType, p.Value.Name)
			}
			continue
		}
		if p.Value.Schema != nil {
			if err := s.doc.ValidateSchemaJSON(p.Value.Schema.Value, v); err != nil {
				return fmt.Errorf("webhook %s: header %s %q: %v", eventType, p.Value.Name, v, err)
			}
		}
	}
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return fmt.Errorf("webhook %s: no request body in the document", eventType)
	}
	mt := op.RequestBody.Value.Content.Get(strings.TrimSpace(strings.Split(header.Get("Content-Type"), ";")[0]))
	if mt == nil || mt.Schema == nil {
		return fmt.Errorf("webhook %s: Content-Type %q is not in the document", eventType, header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("webhook %s: body is not JSON: %v", eventType, err)
	}
	if err := s.doc.ValidateSchemaJSON(mt.Schema.Value, v); err != nil {
		return fmt.Errorf("webhook %s: body does not match the document: %v\nbody: %.500s", eventType, err, body)
	}
	return nil
}

// Package httpapi is the REST API: the command endpoint and the read
// endpoints, with the error envelope every refusal uses (respond.go).
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
)

// Services named in the envelope: the component that refused.
const (
	ServiceCore      = "core"
	ServiceBilling   = "billing"
	ServiceRateLimit = "ratelimit"
)

// The seed's envelope shows microseconds and a numeric offset.
const timestampLayout = "2006-01-02T15:04:05.000000-07:00"

// Envelope is the body of every error response.
type Envelope struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Status    int               `json:"status"`
	TraceID   string            `json:"trace_id"`
	Timestamp string            `json:"timestamp"`
	Service   string            `json:"service"`
	Fields    map[string]string `json:"fields,omitempty"`
}

type traceKey struct{}

// TraceID returns the request's trace id.
func TraceID(ctx context.Context) string {
	s, _ := ctx.Value(traceKey{}).(string)
	return s
}

// withTrace takes the trace id from a W3C traceparent header, so our logs
// join the caller's trace, or mints one.
func withTrace(r *http.Request) *http.Request {
	id := parseTraceparent(r.Header.Get("traceparent"))
	if id == "" {
		b := make([]byte, 16)
		rand.Read(b) //nolint:errcheck
		id = hex.EncodeToString(b)
	}
	return r.WithContext(context.WithValue(r.Context(), traceKey{}, id))
}

// parseTraceparent returns the trace-id of a version-00 traceparent
// ("00-<32 hex>-<16 hex>-<2 hex>"), or "" when absent or invalid.
func parseTraceparent(h string) string {
	if len(h) != 55 || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return ""
	}
	id := h[3:35]
	allZero := true
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
		if c != '0' {
			allZero = false
		}
	}
	if allZero {
		return ""
	}
	return id
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func writeEnvelope(w http.ResponseWriter, r *http.Request, status int, code, message, service string, fields map[string]string) {
	writeJSON(w, status, Envelope{
		Code: code, Message: message, Status: status, TraceID: TraceID(r.Context()),
		Timestamp: time.Now().UTC().Format(timestampLayout), Service: service, Fields: fields,
	})
}

package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Unmatched is the route label of requests no pattern matched.
const Unmatched = "unmatched"

// Middleware times every request through next. route names the pattern
// that serves a request (ServeMux.Handler gives it): the label must be the
// pattern, not the path, or every campaign id would be a new series.
func (m *Metrics) Middleware(route func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := RouteLabel(route(r))
		m.httpInFlight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		m.httpInFlight.Dec()
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		m.httpDuration.WithLabelValues(rt, methodLabel(r.Method), strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// RouteLabel turns a ServeMux pattern ("GET /c/v1/campaigns/{campaign_id}")
// into the route label ("/c/v1/campaigns/{campaign_id}"); the method has its
// own label.
func RouteLabel(pattern string) string {
	if pattern == "" {
		return Unmatched
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	return pattern
}

// methodLabel bounds the method label: any client can send any method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	// 1xx responses are informational; the final status follows.
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck
}

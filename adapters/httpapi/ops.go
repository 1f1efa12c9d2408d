package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sort"

	"ziett.co/campaigns/domain/problem"
)

// Ops are the operational endpoints' parts. Each is optional: without
// Metrics there is no /metrics, without Ready /readyz only reports that
// the process serves, without Instrument requests are not timed.
type Ops struct {
	// Metrics serves GET /metrics.
	Metrics http.Handler
	// Ready runs the readiness checks, one result per dependency (nil =
	// pass).
	Ready func(ctx context.Context) map[string]error
	// Details, when set, adds facts to a ready answer that do not make
	// the process unready (the events parked per projection).
	Details func(ctx context.Context) map[string]any
	// Instrument wraps the API's handler; route names the ServeMux
	// pattern that serves a request.
	Instrument func(route func(*http.Request) string, h http.Handler) http.Handler
}

func (s *Server) opsRoutes(mux *Mux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/healthz", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("/readyz", methodNotAllowed("GET, HEAD"))
	if s.Ops.Metrics != nil {
		mux.Handle("GET /metrics", s.Ops.Metrics)
		mux.HandleFunc("/metrics", methodNotAllowed("GET, HEAD"))
	}
}

// readyz answers 200 when every dependency check passes, and otherwise 503
// in the error envelope with one field per failing check, so a load
// balancer and an operator read the same answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	failed := map[string]string{}
	if s.Ops.Ready != nil {
		for name, err := range s.Ops.Ready(r.Context()) {
			if err != nil {
				failed[name] = err.Error()
				checks[name] = "fail"
			} else {
				checks[name] = "ok"
			}
		}
	}
	if len(failed) > 0 {
		names := make([]string, 0, len(failed))
		for n := range failed {
			names = append(names, n)
		}
		sort.Strings(names)
		s.Log.Warn("not ready", "failing", names, "trace_id", TraceID(r.Context()))
		respond(w, r, problem.New(problem.CodeUnavailable, "Not ready: a dependency check failed.").WithFields(failed))
		return
	}
	body := map[string]any{"status": "ready", "checks": checks}
	if s.Ops.Details != nil {
		body["details"] = s.Ops.Details(r.Context())
	}
	writeJSON(w, http.StatusOK, body)
}

// instrument wraps h with the Ops middleware, labelling each request with
// the pattern mux routes it to.
func (s *Server) instrument(mux *http.ServeMux, h http.Handler) http.Handler {
	if s.Ops.Instrument == nil {
		return h
	}
	return s.Ops.Instrument(func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		return pattern
	}, h)
}

// OpsHandler serves only the operational endpoints, for processes that run
// pipeline components but no API, so that every process can be scraped and
// probed the same way.
func OpsHandler(ops Ops, log *slog.Logger) http.Handler {
	s := &Server{Ops: ops, Log: log}
	mux := NewMux()
	s.opsRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		respond(w, r, errNoSuchEndpoint)
	})
	return s.instrument(mux.ServeMux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, withTrace(r))
	}))
}

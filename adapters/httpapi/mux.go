package httpapi

import (
	"net/http"
	"strings"
)

// Mux is the API's router: an http.ServeMux that remembers the pattern of
// every route registered on it, so that the registered routes can be
// listed (Server.Routes) and checked against the OpenAPI document. Route
// groups take a *Mux and register with Handle or HandleFunc as on a
// ServeMux.
type Mux struct {
	*http.ServeMux
	patterns []string
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

// HandleFunc registers h for pattern.
func (m *Mux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.ServeMux.HandleFunc(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

// Route is one registered pattern, split: Method is "" for a pattern that
// matches every method (the API uses those to answer 405 in its envelope).
type Route struct {
	Pattern string
	Method  string
	Path    string
}

// Routes lists the mux's routes in registration order.
func (m *Mux) Routes() []Route {
	out := make([]Route, 0, len(m.patterns))
	for _, p := range m.patterns {
		r := Route{Pattern: p}
		rest := p
		if i := strings.IndexAny(rest, " \t"); i >= 0 {
			r.Method, rest = rest[:i], strings.TrimLeft(rest[i:], " \t")
		}
		// A host-qualified pattern ("example.com/x") keeps its path.
		if i := strings.Index(rest, "/"); i > 0 {
			rest = rest[i:]
		}
		r.Path = rest
		out = append(out, r)
	}
	return out
}

// Routes builds the API's router as Handler does and lists its routes.
// Route groups that depend on an optional part (Webhooks, Ops.Metrics)
// are only registered when that part is set.
func (s *Server) Routes() []Route { return s.routes().Routes() }

// OpsRoutes lists the operational routes (OpsHandler), which every
// process serves.
func OpsRoutes(ops Ops) []Route {
	mux := NewMux()
	(&Server{Ops: ops}).opsRoutes(mux)
	return mux.Routes()
}

package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"ziett.co/campaigns/adapters/metrics"
)

// series returns the label sets of a metric family as "k=v,k=v" strings,
// with their sample counts (histograms) or values.
func series(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			var kv []string
			for _, l := range s.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(kv, ",")] = value(s)
		}
	}
	return out
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	}
	return 0
}

// Requests are labelled by the pattern that served them, never by the raw
// path, with the method and the status the handler wrote.
func TestMiddlewareLabelsByPatternAndStatus(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /c/v1/campaigns/{campaign_id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("campaign_id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		w.Write([]byte("{}")) //nolint:errcheck
	})
	mux.HandleFunc("POST /c/v1/campaigns/batch", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})
	h := m.Middleware(func(r *http.Request) string { _, p := mux.Handler(r); return p }, mux)
	srv := httptest.NewServer(h)
	defer srv.Close()

	do := func(method, path string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do("GET", "/c/v1/campaigns/0190a5b2-0000-7000-8000-000000000001")
	do("GET", "/c/v1/campaigns/0190a5b2-0000-7000-8000-000000000002")
	do("GET", "/c/v1/campaigns/missing")
	do("POST", "/c/v1/campaigns/batch")
	do("GET", "/nowhere")
	do("BREW", "/c/v1/campaigns/batch")

	got := series(t, m, "ziett_http_request_duration_seconds")
	want := map[string]float64{
		"method=GET,route=/c/v1/campaigns/{campaign_id},status=200": 2,
		"method=GET,route=/c/v1/campaigns/{campaign_id},status=404": 1,
		"method=POST,route=/c/v1/campaigns/batch,status=202":        1,
		"method=GET,route=unmatched,status=404":                     1,
		"method=OTHER,route=unmatched,status=405":                   1,
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d: %v", len(got), len(want), got)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("series {%s} = %v, want %v (all: %v)", k, got[k], n, got)
		}
	}
	if g := series(t, m, "ziett_http_requests_in_flight"); g[""] != 0 {
		t.Errorf("in flight after all requests = %v, want 0", g[""])
	}
}

func TestRouteLabel(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   metrics.Unmatched,
		"GET /healthz":                       "/healthz",
		"/":                                  "/",
		"POST  /c/v1/campaigns/batch":        "/c/v1/campaigns/batch",
		"GET /c/v1/campaigns/{campaign_id}/": "/c/v1/campaigns/{campaign_id}/",
	} {
		if got := metrics.RouteLabel(in); got != want {
			t.Errorf("RouteLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

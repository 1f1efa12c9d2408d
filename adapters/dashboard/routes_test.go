package dashboard_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"ziett.co/campaigns/adapters/dashboard"
	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
)

// Every page and form the dashboard registers is in the OpenAPI document
// under the Dashboard tag, and every Dashboard operation there is served.
func TestEveryPageIsDocumented(t *testing.T) {
	raw, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct{ Tags []string } `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(dashboard.Config{
		Auth: postgres.Directory{}, Sessions: postgres.Sessions{}, Directory: postgres.Directory{},
		Campaigns: campaigns.Reader{}, Lists: campaigns.Reader{}, Trail: kafkalog.Trail{}, Balances: ledger.Reader{},
		Commands: &httpapi.Server{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handler()
	wildcard := regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)
	served := map[string]bool{}
	for _, pat := range srv.Routes() {
		method, path, ok := strings.Cut(pat, " ")
		if !ok {
			continue // the fallback that answers 404 for every method
		}
		path = wildcard.ReplaceAllString(strings.TrimSuffix(path, "{$}"), "{$1}")
		if path == "/static/" {
			path = "/static/{file}"
		}
		key := strings.ToLower(method) + " " + path
		served[key] = true
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok || !slices.Contains(op.Tags, "Dashboard") {
			t.Errorf("%s is not documented as a Dashboard operation in schemas/openapi/dashboard.json", pat)
		}
	}
	if len(served) < 15 {
		t.Fatalf("only %d routes found; the route list is broken", len(served))
	}
	for path, item := range doc.Paths {
		for m, op := range item {
			if slices.Contains(op.Tags, "Dashboard") && !served[m+" "+path] {
				t.Errorf("the document describes %s %s, which the dashboard does not serve", strings.ToUpper(m), path)
			}
		}
	}
}

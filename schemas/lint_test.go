package schemas_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ziett.co/campaigns/adapters/httpapi"
)

// The assembled OpenAPI document passes Redocly's linter (an implementation
// of the OpenAPI rules nobody here wrote) with its recommended rules and
// the stricter ones of .ci/openapi-lint/redocly.yaml: no error, no
// warning, except the ones .redocly.lint-ignore.yaml explains.
func TestOpenAPIDocumentPassesRedocly(t *testing.T) {
	lintDir, err := filepath.Abs("../.ci/openapi-lint")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(lintDir, "node_modules", ".bin", "redocly")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Redocly CLI is not installed (%v): run `npm ci --prefix .ci/openapi-lint` (.ci/run does)", err)
	}
	doc, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	// The ignore file names the document relative to itself, so both go
	// beside it.
	dir := t.TempDir()
	for _, name := range []string{"redocly.yaml", ".redocly.lint-ignore.yaml"} {
		b, err := os.ReadFile(filepath.Join(lintDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "lint", "--format=json", "--config", "redocly.yaml", "openapi.json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var res struct {
		Totals struct {
			Errors, Warnings, Ignored int
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("redocly lint: %v (%v)\nstdout: %.2000s\nstderr: %.2000s", err, runErr, out, stderr.String())
	}
	for _, p := range res.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("redocly %s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if res.Totals.Errors+res.Totals.Warnings > 0 || runErr != nil {
		t.Errorf("redocly lint: %d errors, %d warnings (%v)", res.Totals.Errors, res.Totals.Warnings, runErr)
	}
}

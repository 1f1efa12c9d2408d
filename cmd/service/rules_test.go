package service_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/domain/plan"
)

// The rules file gives both the rules and the providers' links; a bad
// part of either refuses the file, naming it; rules or links set in the
// configuration replace the file's.
func TestLoadRules(t *testing.T) {
	shipped := string(plan.DefaultRulesJSON())
	write := func(name, edit, want string) string {
		t.Helper()
		if !strings.Contains(shipped, edit) {
			t.Fatalf("shipped rules no longer contain %s", edit)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(strings.Replace(shipped, edit, want, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	linked := write("linked.json", `"unitel": {"max_per_second": 500}`,
		`"unitel": {"max_per_second": 450, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p"}}`)

	for _, tc := range []struct {
		name       string
		cfg        service.Config
		throughput float64 // unitel's
		linked     bool    // unitel has an SMPP link
		refused    string  // in the error, when refused
	}{
		{"the shipped rules have no links", service.Config{}, 500, false, ""},
		{"a file gives rules and links", service.Config{RulesFile: linked}, 450, true, ""},
		{"rules set replace the file's, its links stay",
			service.Config{RulesFile: linked, Rules: new(plan.DefaultRules())}, 500, true, ""},
		{"a bad link refuses the file",
			service.Config{RulesFile: write("badlink.json", `"unitel": {"max_per_second": 500}`,
				`"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc", "system_id": "z", "password": "p"}}`)},
			0, false, "badlink.json: rules: provider unitel: smpp.addr"},
		{"a bad rule refuses the file",
			service.Config{RulesFile: write("badrule.json", `"currency": "AOA"`, `"currency": "EUR"`)},
			0, false, "badrule.json: rules: currency"},
		{"a missing file is refused", service.Config{RulesFile: filepath.Join(t.TempDir(), "none.json")}, 0, false, "none.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, links, err := tc.cfg.LoadRules()
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("err = %v, want one containing %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rules.Throughput["unitel"]; got != tc.throughput {
				t.Errorf("unitel's throughput = %v, want %v", got, tc.throughput)
			}
			if got := links["unitel"].SMPP != nil; got != tc.linked {
				t.Errorf("unitel linked = %v, want %v", got, tc.linked)
			}
		})
	}
}

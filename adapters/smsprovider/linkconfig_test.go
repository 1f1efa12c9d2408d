package smsprovider

import (
	"slices"
	"strings"
	"testing"
	"time"

	"ziett.co/campaigns/domain/plan"
)

// A provider's link: SMPP with its defaults applied, or the simulator;
// a routed provider without either is reported as unlinked.
func TestParseLinks(t *testing.T) {
	src := strings.Replace(string(plan.DefaultRulesJSON()), `"unitel": {"max_per_second": 500}`,
		`"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc.unitel.ao:2775", "system_id": "ziett", "password_env": "UNITEL_PW", "source_ton": 5}}`, 1)
	src = strings.Replace(src, `"movicel": {"max_per_second": 300}`, `"movicel": {"max_per_second": 300, "simulated": {"latency": "5ms"}}`, 1)
	// The rules accept the links beside them, and the links are read.
	r, err := plan.ParseRules([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	links, err := ParseLinks([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := links["unitel"].SMPP
	if s == nil || s.Binds != 1 || s.Window != 10 || time.Duration(s.EnquireLink) != 30*time.Second || s.LongMessages != "udh" ||
		s.BindMode != BindTransceiver || s.TLS || s.SourceTON == nil || *s.SourceTON != 5 || s.SourceNPI != nil || s.PasswordEnv != "UNITEL_PW" {
		t.Fatalf("unitel's smpp link with defaults applied: %+v", s)
	}
	if m := links["movicel"].Simulated; m == nil || time.Duration(m.Latency) != 5*time.Millisecond {
		t.Fatalf("movicel's simulated link: %+v", m)
	}
	if got := Unlinked(r.Routes.Providers(), links); slices.Contains(got, "unitel") || slices.Contains(got, "movicel") || !slices.Contains(got, "africell") {
		t.Fatalf("unlinked = %v", got)
	}
}

// A link that breaks a rule of its own refuses the whole rules file.
func TestParseLinksRefusesBadLinks(t *testing.T) {
	bad := []struct{ name, edit, want string }{
		{"smpp without addr", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"system_id": "z", "password": "p"}}`},
		{"smpp addr without port", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc", "system_id": "z", "password": "p"}}`},
		{"smpp without system_id", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "password": "p"}}`},
		{"smpp with both passwords", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "password_env": "P"}}`},
		{"smpp without password", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z"}}`},
		{"smpp password too long", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "123456789"}}`},
		{"smpp unknown long mode", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "long_messages": "split"}}`},
		{"smpp bad enquire_link", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "enquire_link": "soon"}}`},
		{"smpp window zero or less", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "window": -1}}`},
		{"smpp source_ton out of range", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "source_ton": 300}}`},
		{"smpp unknown key", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "windows": 5}}`},
		{"both link kinds", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "simulated": {}, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p"}}`},
		{"simulated failure above one", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "simulated": {"permanent_failure": 1.5}}`},
	}
	for _, b := range bad {
		src := string(plan.DefaultRulesJSON())
		if !strings.Contains(src, b.edit) {
			t.Fatalf("%s: shipped rules no longer contain %s", b.name, b.edit)
		}
		if _, err := ParseLinks([]byte(strings.Replace(src, b.edit, b.want, 1))); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

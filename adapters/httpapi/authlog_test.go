package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/apikey"
)

// lockedBuffer collects log lines written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (l *lockedBuffer) find(t *testing.T, msg string) map[string]any {
	for _, r := range l.records(t) {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// A refused key is logged at info, without the key; a key without the
// scope at info; an authenticated read at debug.
func TestAuthenticationAndReadsAreLogged(t *testing.T) {
	var logs lockedBuffer
	e := servicetest.Start(t, func(cfg *service.Config) {
		cfg.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	bad := "zk_live_" + strings.Repeat("A", 43)
	if r := e.Do(http.MethodGet, "/c/v1/campaigns", bad, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("unknown key: %d %s", r.Status, r.Body)
	}
	rec := logs.find(t, "authentication refused")
	if rec == nil || rec["level"] != "INFO" || rec["path"] != "/c/v1/campaigns" || !strings.HasPrefix(rec["key"].(string), "len=51 sha256=") {
		t.Errorf("refused key logged as %v", rec)
	}
	if strings.Contains(logs.b.String(), strings.Repeat("A", 43)) {
		t.Error("the refused key is in the log")
	}

	_, sendOnly, err := e.Stack.Admin.Dir.CreateKey(t.Context(), e.Demo.OrgID, "send only", []string{apikey.ScopeCampaignSend})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.Do(http.MethodGet, "/c/v1/campaigns", sendOnly, nil); r.Status != http.StatusForbidden {
		t.Fatalf("key without the read scope: %d %s", r.Status, r.Body)
	}
	if rec := logs.find(t, "authorization refused"); rec == nil || rec["level"] != "INFO" || rec["scope"] != apikey.ScopeCampaignRead ||
		rec["org_id"] != e.Demo.OrgID.String() {
		t.Errorf("missing scope logged as %v", rec)
	}

	if r := e.Do(http.MethodGet, "/c/v1/campaigns?limit=1", e.Demo.APIKey, nil); r.Status != http.StatusOK {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	if rec := logs.find(t, "read"); rec == nil || rec["level"] != "DEBUG" || rec["org_id"] != e.Demo.OrgID.String() || rec["trace_id"] == "" {
		t.Errorf("read logged as %v", rec)
	}
}

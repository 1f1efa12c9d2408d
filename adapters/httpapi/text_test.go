package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/cmd/service/servicetest"
)

// Every text field of every endpoint refuses what PostgreSQL cannot store
// (NUL, invalid UTF-8) and what encoding/json would repair silently (lone
// surrogates), and control characters where they make no sense, with a 422
// naming the field; nothing refused reaches the log, and the read side
// carries on: a campaign sent after them all is visible.
func TestEveryTextFieldRefusesWhatCannotBeStored(t *testing.T) {
	e := startChecked(t)
	// The webhook endpoints' successes are not in the OpenAPI document:
	// those calls skip the check.
	unchecked := func(f func()) {
		saved := e.HTTP.Transport
		e.HTTP.Transport = nil
		defer func() { e.HTTP.Transport = saved }()
		f()
	}
	wh := whKey(t, e, e.Demo.OrgID)
	var hook string
	unchecked(func() {
		hook = whCreate(t, e, wh, map[string]any{"url": "https://hooks.example.com/a"})["webhook_id"].(string)
	})
	someCampaign := uuid.Must(uuid.NewV7()).String()

	// batch returns the seed request as JSON with one member replaced by
	// raw JSON text, so that invalid bytes reach the server as they are.
	batch := func(member, rawJSON string) []byte {
		m := map[string]json.RawMessage{}
		for k, v := range e.SeedRequest() {
			b, _ := json.Marshal(v)
			m[k] = b
		}
		b, _ := json.Marshal(m)
		old, _ := json.Marshal(map[string]json.RawMessage{member: m[member]})
		return []byte(strings.Replace(string(b), strings.Trim(string(old), "{}"), `"`+member+`":`+rawJSON, 1))
	}
	for _, c := range []struct {
		name, method, path, key string
		body                    []byte
		field, want             string
	}{
		{"NUL in a campaign name", "POST", batchPath, e.Demo.APIKey, batch("name", `"n\u0000ame"`), "name", "U+0000"},
		{"line feed in a campaign name", "POST", batchPath, e.Demo.APIKey, batch("name", `"a\nb"`), "name", "U+000A"},
		{"invalid UTF-8 in a campaign name", "POST", batchPath, e.Demo.APIKey, batch("name", "\"caf\xe9\""), "name", "valid UTF-8"},
		{"lone surrogate in the message content", "POST", batchPath, e.Demo.APIKey, batch("content", `"Sale \ud83d!"`), "content", "lone surrogate"},
		{"NUL in the message content", "POST", batchPath, e.Demo.APIKey, batch("content", `"Sale\u0000"`), "content", "U+0000"},
		{"escape character in the message content", "POST", batchPath, e.Demo.APIKey, batch("content", `"\u001b[1mSale"`), "content", "U+001B"},
		{"invalid UTF-8 in a recipient", "POST", batchPath, e.Demo.APIKey, batch("recipients", "[\"+244990000001\",\"9\xff90000002\"]"), "recipients[1]", "valid UTF-8"},
		{"NUL in the campaign search", "GET", "/c/v1/campaigns?q=a%00b", e.Demo.APIKey, nil, "q", "U+0000"},
		{"invalid UTF-8 in the campaign search", "GET", "/c/v1/campaigns?q=caf%E9", e.Demo.APIKey, nil, "q", "valid UTF-8"},
		{"NUL in the campaign status filter", "GET", "/c/v1/campaigns?status=SENT%00", e.Demo.APIKey, nil, "status", "U+0000"},
		{"control character in a date filter", "GET", "/c/v1/campaigns?created_from=2026-01-01T00:00:00Z%01", e.Demo.APIKey, nil, "created_from", "U+0001"},
		{"NUL in the message list's cursor", "GET", "/c/v1/campaigns/" + someCampaign + "/messages?cursor=%00", e.Demo.APIKey, nil, "cursor", "U+0000"},
		{"invalid UTF-8 in the audit trail's limit", "GET", "/c/v1/campaigns/" + someCampaign + "/events?limit=%FF", e.Demo.APIKey, nil, "limit", "valid UTF-8"},
		{"NUL in a webhook description", "POST", "/c/v1/webhooks", wh, []byte(`{"url":"https://e.com/x","description":"a\u0000b"}`), "description", "U+0000"},
		{"lone surrogate in a webhook description", "POST", "/c/v1/webhooks", wh, []byte(`{"url":"https://e.com/x","description":"\udc00"}`), "description", "lone surrogate"},
		{"invalid UTF-8 in a webhook URL", "POST", "/c/v1/webhooks", wh, []byte("{\"url\":\"https://e.com/caf\xe9\"}"), "url", "valid UTF-8"},
		{"NUL in a webhook URL", "POST", "/c/v1/webhooks", wh, []byte(`{"url":"https://e.com/\u0000"}`), "url", "U+0000"},
		{"NUL in the delivery list's status filter", "GET", "/c/v1/webhooks/" + hook + "/deliveries?status=%00", wh, nil, "status", "U+0000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != nil {
				body = c.body
			}
			b := wantError(t, e.Do(c.method, c.path, c.key, body), http.StatusUnprocessableEntity, "VALIDATION_ERROR", "core")
			f, _ := b["fields"].(map[string]any)
			if msg, _ := f[c.field].(string); !strings.Contains(msg, c.want) {
				t.Fatalf("fields = %v, want %q about %s", f, c.want, c.field)
			}
		})
	}
	accepted(t, e, e.Demo.OrgID, 0)

	// What the fields may hold is taken exactly: letters beyond ASCII, an
	// escaped surrogate pair, and line breaks in the content.
	req := e.SeedRequest()
	req["name"] = "Promoção 😀"
	req["content"] = "Olá!\r\nSale\tnow"
	id := e.Submit(req)
	got := e.WaitStatus(id, 30*time.Second, "SENDING", "COMPLETED")
	if got["name"] != "Promoção 😀" {
		t.Fatalf("name shown as %q", got["name"])
	}
	var r servicetest.Response
	unchecked(func() {
		r = e.Do(http.MethodPost, "/c/v1/webhooks", wh, []byte(`{"url":"https://e.com/y","description":"line one\nline two \ud83d\ude00"}`))
	})
	if r.Status != http.StatusCreated || r.JSON(t)["description"] != "line one\nline two 😀" {
		t.Fatalf("webhook with a two-line description: %d %s", r.Status, r.Body)
	}
	if r := e.Do(http.MethodGet, "/c/v1/campaigns?q=Promo%C3%A7%C3%A3o", e.Demo.APIKey, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), id.String()) {
		t.Fatalf("search by a non-ASCII name: %d %s", r.Status, r.Body)
	}
}

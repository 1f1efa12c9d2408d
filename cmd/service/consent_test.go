package service_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
)

func suppressionsOf(t *testing.T, e *servicetest.Env, key string) map[string]string {
	t.Helper()
	r := e.Do(http.MethodGet, "/c/v1/suppressions", key, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list suppressions: %d %s", r.Status, r.Body)
	}
	out := map[string]string{}
	for _, x := range r.JSON(t)["data"].([]any) {
		m := x.(map[string]any)
		out[m["e164"].(string)] = m["source"].(string)
	}
	return out
}

func waitSuppressions(t *testing.T, e *servicetest.Env, ok func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := suppressionsOf(t, e, e.Demo.APIKey)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("suppression list stayed %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inbound appends what the SMPP link records for a mobile-originated reply.
func inbound(t *testing.T, e *servicetest.Env, from, text string) {
	t.Helper()
	env, err := events.New(uuid.Must(uuid.NewV7()), e.Demo.OrgID, uuid.Nil, events.InboundMessageReceivedV1{
		Provider: "unitel", From: from, To: "ZIETT", Text: text, RemitterID: e.Demo.RemitterID, ReceivedAt: time.Now().UTC(),
	}, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafkalog.NewAppender(e.Stack.Kafka).Append(ctx, events.OnOrgStream(env)); err != nil {
		t.Fatal(err)
	}
}

func campaignTo(t *testing.T, e *servicetest.Env, numbers ...string) map[string]any {
	t.Helper()
	req := e.SeedRequest()
	req["recipients"] = numbers
	return e.WaitStatus(e.Submit(req), 30*time.Second, "COMPLETED", "FAILED")
}

func TestSuppressedNumbersAreSkippedAndNotBilled(t *testing.T) {
	e := servicetest.Start(t)
	a, b, c := "+244923000001", "+244923000002", "+244923000003"

	r := e.Do(http.MethodPost, "/c/v1/suppressions", e.Demo.APIKey, map[string]any{"numbers": []string{"923000001"}, "country_alpha2": "AO"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("add suppression: %d %s", r.Status, r.Body)
	}
	waitSuppressions(t, e, func(m map[string]string) bool { return m[a] == "api" })

	v := campaignTo(t, e, a, b, c)
	rec := v["recipients"].(map[string]any)
	cost := v["cost"].(map[string]any)
	if rec["suppressed"] != float64(1) || messagesOf(v)["total"] != 2 || cost["debited"] != 2*cost["estimated"].(float64)/3 {
		t.Fatalf("campaign with one suppressed recipient: recipients %v messages %v cost %v", rec, messagesOf(v), cost)
	}
	msgs := e.Do(http.MethodGet, "/c/v1/campaigns/"+v["campaign_id"].(string)+"/messages?status=SUPPRESSED", e.Demo.APIKey, nil).JSON(t)
	if data := msgs["data"].([]any); len(data) != 1 || data[0].(map[string]any)["e164"] != a {
		t.Fatalf("suppressed messages: %v", msgs)
	}

	// A recipient's STOP reply suppresses its number for the next campaign.
	inbound(t, e, b[1:], "  stop ")
	waitSuppressions(t, e, func(m map[string]string) bool { return m[b] == "keyword" })
	v = campaignTo(t, e, a, b, c)
	if rec := v["recipients"].(map[string]any); rec["suppressed"] != float64(2) || messagesOf(v)["sent"] != 1 {
		t.Fatalf("after STOP: recipients %v messages %v", rec, messagesOf(v))
	}
	// An ordinary reply changes nothing; ENTRAR lifts the suppression.
	inbound(t, e, c[1:], "Obrigado")
	inbound(t, e, b[1:], "ENTRAR")
	waitSuppressions(t, e, func(m map[string]string) bool { _, on := m[b]; return !on })

	// The customer removes the other one.
	if r := e.Do(http.MethodDelete, "/c/v1/suppressions/"+url.PathEscape(a), e.Demo.APIKey, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete suppression: %d %s", r.Status, r.Body)
	}
	waitSuppressions(t, e, func(m map[string]string) bool { return len(m) == 0 })
	v = campaignTo(t, e, a, b, c)
	if rec := v["recipients"].(map[string]any); rec["suppressed"] != float64(0) || messagesOf(v)["sent"] != 3 {
		t.Fatalf("after lifting both: recipients %v messages %v", rec, messagesOf(v))
	}
	if r := e.Do(http.MethodDelete, "/c/v1/suppressions/"+url.PathEscape(a), e.Demo.APIKey, nil); r.Status != http.StatusNotFound {
		t.Fatalf("deleting a number not on the list: %d %s", r.Status, r.Body)
	}

	// Every recipient suppressed: the campaign fails, nothing is debited.
	e.Do(http.MethodPost, "/c/v1/suppressions", e.Demo.APIKey, map[string]any{"numbers": []string{a, b}})
	waitSuppressions(t, e, func(m map[string]string) bool { return len(m) == 2 })
	v = campaignTo(t, e, a, b)
	if v["status"] != "FAILED" || v["failure"].(map[string]any)["code"] != "ALL_RECIPIENTS_SUPPRESSED" || v["cost"].(map[string]any)["debited"] != float64(0) {
		t.Fatalf("all suppressed: %v", v)
	}

	// Another organisation neither sees nor inherits the list.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := e.Stack.Admin.CreateDemo(ctx, servicetest.Credits, []string{"apikey:campaign:send", "apikey:campaign:read"})
	if err != nil {
		t.Fatal(err)
	}
	if got := suppressionsOf(t, e, other.APIKey); len(got) != 0 {
		t.Fatalf("another organisation sees %v", got)
	}
}

func TestSuppressionRequestsAreValidated(t *testing.T) {
	e := servicetest.Start(t)
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"a number that is not one", map[string]any{"numbers": []string{"+244923000001", "abc"}}, "numbers[1]"},
		{"a local number without a country", map[string]any{"numbers": []string{"923000001"}}, "numbers[0]"},
		{"no numbers", map[string]any{"numbers": []string{}}, "numbers"},
		{"numbers missing", map[string]any{"country_alpha2": "AO"}, "numbers"},
		{"a bad country", map[string]any{"numbers": []string{"923000001"}, "country_alpha2": "ao"}, "country_alpha2"},
		{"an unknown member", map[string]any{"numbers": []string{"+244923000001"}, "nums": 1}, "nums"},
		{"a NUL in a number", map[string]any{"numbers": []string{"+244923\u0000000001"}}, "numbers[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(http.MethodPost, "/c/v1/suppressions", e.Demo.APIKey, tc.body)
			fields, _ := r.JSON(t)["fields"].(map[string]any)
			if r.Status != http.StatusUnprocessableEntity || fields[tc.field] == nil {
				t.Fatalf("%d %s, want 422 naming %s", r.Status, r.Body, tc.field)
			}
		})
	}
}

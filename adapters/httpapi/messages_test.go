package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/events"
)

const messagesPath = "/c/v1/messages"

// seedMessage is the API reference's example adapted to one recipient.
func seedMessage(remitter uuid.UUID) map[string]any {
	return map[string]any{
		"remitter_id": remitter.String(), "channel_type": "SMS", "country_alpha2": "AO",
		"recipient": "923000001", "content": "Your verification code is 482913.", "reference": "otp-1",
	}
}

func wantMessageAccepted(t *testing.T, r servicetest.Response) uuid.UUID {
	t.Helper()
	if r.Status != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202", r.Status, r.Body)
	}
	b := r.JSON(t)
	if b["message"] != "Message accepted and queued for sending." || len(b) != 2 {
		t.Fatalf("202 body %v", b)
	}
	id, err := uuid.Parse(b["message_id"].(string))
	if err != nil || id.Version() != 7 {
		t.Fatalf("message_id %v is not a UUIDv7", b["message_id"])
	}
	return id
}

// waitMessage polls Retrieve Message until the message has status.
func waitMessage(t *testing.T, e *servicetest.Env, key string, id uuid.UUID, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last servicetest.Response
	for time.Now().Before(deadline) {
		last = e.Do(http.MethodGet, messagesPath+"/"+id.String(), key, nil)
		if last.Status == http.StatusOK && last.JSON(t)["status"] == status {
			return last.JSON(t)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("message %s did not reach %s; last answer %d %s", id, status, last.Status, last.Body)
	return nil
}

func TestSendMessage(t *testing.T) {
	e := startChecked(t)
	key := e.Demo.APIKey

	// The seed's example for one recipient is sent, debited once, and
	// Retrieve Message shows what became of it.
	id := wantMessageAccepted(t, e.Do(http.MethodPost, messagesPath, key, seedMessage(e.Demo.RemitterID)))
	m := waitMessage(t, e, key, id, "SENT")
	for k, want := range map[string]any{
		"message_id": id.String(), "campaign_id": nil, "e164": "+244923000001", "recipient": "923000001",
		"provider": "unitel", "segments": float64(1), "encoding": "GSM7", "reference": "otp-1", "channel_type": "SMS",
		"country_alpha2": "AO", "error": nil,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if c := m["cost"].(map[string]any); c["amount"] != float64(500) || c["refunded"] != float64(0) || c["currency"] != "AOA" {
		t.Errorf("cost %v, want 500 AOA debited, nothing refunded", c)
	}
	if m["sent_at"] == nil || m["provider_ref"] == nil {
		t.Errorf("a sent message has sent_at and provider_ref: %v", m)
	}
	if n := e.Stack.Providers["unitel"].AcceptedCalls()[id]; n != 1 {
		t.Errorf("the provider was handed the message %d times, want 1", n)
	}
	// It travelled the priority queue, one delivery; its debit is one
	// FundsDebited on the organisation's stream.
	var deliveries int
	if err := servicetest.ReadTopic(t.Context(), e.Brokers, kafkalog.PriorityDeliveryTopic("unitel"), func(r *kgo.Record) {
		if d, err := kafkalog.DecodeDelivery(r); err == nil && d.MessageID == id && d.Priority {
			deliveries++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if deliveries != 1 {
		t.Errorf("%d deliveries of the message on the priority queue, want 1", deliveries)
	}
	debits := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool {
		return ev.CampaignID == id && ev.Type == events.FundsDebited
	})
	if len(debits) != 1 {
		t.Errorf("%d debits of the message, want 1", len(debits))
	}
	// The dispatcher observed its acceptance-to-acknowledgement latency
	// under the transactional priority.
	if r := e.Do(http.MethodGet, "/metrics", "", nil); r.Status != http.StatusOK ||
		!regexp.MustCompile(`(?m)^ziett_message_ack_latency_seconds_count\{priority="transactional"\} [1-9]`).Match(r.Body) {
		t.Errorf("/metrics has no transactional acknowledgement latency: %d", r.Status)
	}
	// A single message is not a campaign.
	if r := e.Do(http.MethodGet, "/c/v1/campaigns/"+id.String(), key, nil); r.Status != http.StatusNotFound {
		t.Errorf("Retrieve Campaign of a message id: %d, want 404", r.Status)
	}

	// A campaign's message is retrievable by its id too.
	cid := e.Submit(e.SeedRequest())
	e.WaitStatus(cid, 20*time.Second, "COMPLETED")
	r := e.Do(http.MethodGet, "/c/v1/campaigns/"+cid.String()+"/messages", key, nil)
	first := r.JSON(t)["data"].([]any)[0].(map[string]any)
	cm := e.Do(http.MethodGet, messagesPath+"/"+first["message_id"].(string), key, nil)
	if cm.Status != http.StatusOK || cm.JSON(t)["campaign_id"] != cid.String() || cm.JSON(t)["status"] != "SENT" {
		t.Fatalf("Retrieve Message of a campaign message: %d %s", cm.Status, cm.Body)
	}

	// Another organisation sees none of it.
	other := newTenant(t, e, 100_000, 0, apikey.ScopeMessageSend)
	for _, mid := range []string{id.String(), first["message_id"].(string), uuid.NewString(), "not-a-uuid"} {
		if r := e.Do(http.MethodGet, messagesPath+"/"+mid, other.key, nil); r.Status != http.StatusNotFound {
			t.Errorf("another organisation's GET %s: %d, want 404", mid, r.Status)
		}
	}
	if p := getPage(t, e, other.key, messagesPath, nil); len(p.Data) != 0 {
		t.Errorf("another organisation lists %d messages", len(p.Data))
	}

	// The list: newest first, filters, cursor pagination.
	var ids []uuid.UUID
	for i := range 3 {
		req := seedMessage(e.Demo.RemitterID)
		req["recipient"], req["reference"] = "+24492300001"+strconv.Itoa(i), "batch-"+strconv.Itoa(i%2)
		delete(req, "country_alpha2")
		ids = append(ids, wantMessageAccepted(t, e.Do(http.MethodPost, messagesPath, key, req)))
	}
	for _, mid := range ids {
		waitMessage(t, e, key, mid, "SENT")
	}
	p := getPage(t, e, key, messagesPath, url.Values{"limit": {"2"}})
	if len(p.Data) != 2 || !p.HasMore || p.Data[0]["message_id"] != ids[2].String() || p.Data[1]["message_id"] != ids[1].String() {
		t.Fatalf("first page %+v", p)
	}
	p = getPage(t, e, key, messagesPath, url.Values{"limit": {"2"}, "cursor": {*p.NextCursor}})
	if len(p.Data) != 2 || p.HasMore || p.Data[0]["message_id"] != ids[0].String() || p.Data[1]["message_id"] != id.String() {
		t.Fatalf("second page %+v", p)
	}
	for _, c := range []struct {
		name   string
		params url.Values
		want   []uuid.UUID
	}{
		{"reference matches exactly", url.Values{"reference": {"batch-0"}}, []uuid.UUID{ids[2], ids[0]}},
		{"recipient in any spelling of E.164", url.Values{"recipient": {"+244 923 000 011"}}, []uuid.UUID{ids[1]}},
		{"status SENT lists them all", url.Values{"status": {"SENT"}}, []uuid.UUID{ids[2], ids[1], ids[0], id}},
		{"status FAILED lists none", url.Values{"status": {"FAILED,QUEUED"}}, nil},
		{"created range", url.Values{"created_from": {time.Now().Add(-time.Hour).Format(time.RFC3339)}, "created_to": {time.Now().Add(-time.Minute).Format(time.RFC3339)}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := getPage(t, e, key, messagesPath, c.params)
			if len(p.Data) != len(c.want) {
				t.Fatalf("%d messages, want %d", len(p.Data), len(c.want))
			}
			for i, w := range c.want {
				if p.Data[i]["message_id"] != w.String() {
					t.Fatalf("item %d is %v, want %s", i, p.Data[i]["message_id"], w)
				}
			}
		})
	}
	r = e.Do(http.MethodGet, messagesPath+"?status=LOST&cursor=x", key, nil)
	if b := wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR", "core"); b["fields"].(map[string]any)["status"] == nil {
		t.Errorf("bad status not named: %v", b)
	}
}

func TestSendMessageRefusals(t *testing.T) {
	e := startChecked(t)
	tn := newTenant(t, e, 100_000, 0, apikey.ScopeMessageSend)
	req := func(f func(map[string]any)) map[string]any {
		m := seedMessage(tn.remitter)
		if f != nil {
			f(m)
		}
		return m
	}
	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"an invalid number is refused at once", req(func(m map[string]any) { m["recipient"] = "+244100000000" }), "recipient"},
		{"a freephone number cannot receive SMS", req(func(m map[string]any) { m["recipient"] = "+351800200200" }), "recipient"},
		{"a local number needs country_alpha2", req(func(m map[string]any) { delete(m, "country_alpha2") }), "country_alpha2"},
		{"a number off the pattern", req(func(m map[string]any) { m["recipient"] = "call me" }), "recipient"},
		{"empty content", req(func(m map[string]any) { m["content"] = "" }), "content"},
		{"content over 10,000 characters", req(func(m map[string]any) { m["content"] = string(make([]byte, 10001)) }), "content"},
		{"reference over 100 characters", req(func(m map[string]any) { m["reference"] = string(make([]rune, 101)) }), "reference"},
		{"reference with a control character", req(func(m map[string]any) { m["reference"] = "a\nb" }), "reference"},
		{"channel other than SMS", req(func(m map[string]any) { m["channel_type"] = "EMAIL" }), "channel_type"},
		{"recipient missing", req(func(m map[string]any) { delete(m, "recipient") }), "recipient"},
		{"sender of another organisation", req(func(m map[string]any) { m["remitter_id"] = e.Demo.RemitterID.String() }), "remitter_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := wantError(t, e.Do(http.MethodPost, messagesPath, tn.key, c.body), http.StatusUnprocessableEntity, "VALIDATION_ERROR", "core")
			if f, _ := b["fields"].(map[string]any); f[c.field] == nil {
				t.Fatalf("fields %v do not name %s", b["fields"], c.field)
			}
		})
	}
	// 401, 403.
	wantError(t, e.Do(http.MethodPost, messagesPath, "", seedMessage(tn.remitter)), http.StatusUnauthorized, "AUTH_INVALID_API_KEY", "core")
	campaignOnly := newTenant(t, e, 100_000, 0, apikey.ScopeCampaignSend)
	wantError(t, e.Do(http.MethodPost, messagesPath, campaignOnly.key, seedMessage(campaignOnly.remitter)), http.StatusForbidden, "AUTH_INSUFFICIENT_SCOPE", "core")

	// 402: the balance is below the message's cost (500 per segment).
	poor := newTenant(t, e, 499, 0, apikey.ScopeMessageSend)
	wantError(t, e.Do(http.MethodPost, messagesPath, poor.key, seedMessage(poor.remitter)), http.StatusPaymentRequired, "BILLING_INSUFFICIENT_FUNDS", "billing")

	// Idempotency-Key: the same request returns the same message once.
	a := wantMessageAccepted(t, e.Do(http.MethodPost, messagesPath, tn.key, seedMessage(tn.remitter), "Idempotency-Key", "k1"))
	rb := e.Do(http.MethodPost, messagesPath, tn.key, seedMessage(tn.remitter), "Idempotency-Key", "k1")
	if b := wantMessageAccepted(t, rb); b != a || rb.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay gave %s (replayed %q), want %s", b, rb.Header.Get("Idempotent-Replayed"), a)
	}
	wantError(t, e.Do(http.MethodPost, messagesPath, tn.key, req(func(m map[string]any) { m["content"] = "other" }), "Idempotency-Key", "k1"),
		http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED", "core")
	if n := len(e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool {
		return ev.Type == events.CampaignAccepted && ev.CampaignID == a
	})); n != 1 {
		t.Fatalf("%d CampaignAccepted for an idempotent message, want 1", n)
	}

	// Its own rate, per second, set per key.
	if _, err := e.Stack.Admin.SetKeyMessageRate(t.Context(), tn.keyID, 2); err != nil {
		t.Fatal(err)
	}
	limited := 0
	for range 6 {
		r := e.Do(http.MethodPost, messagesPath, tn.key, "{")
		if got := r.Header.Get("RateLimit-Policy"); got != `"message";q=2;w=1` {
			t.Fatalf("RateLimit-Policy %q", got)
		}
		if r.Status == http.StatusTooManyRequests {
			wantError(t, r, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "ratelimit")
			if r.Header.Get("Retry-After") != "1" {
				t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
			}
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 6 immediate requests limited at 2/s, want at least 2", limited)
	}
}

package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/httpapi/contract"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	acceptcmd "ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/ledger"
)

const batchPath = "/c/v1/campaigns/batch"

// startChecked starts a stack whose test client checks every response
// against the served OpenAPI document.
func startChecked(t *testing.T, opts ...servicetest.Option) *servicetest.Env {
	t.Helper()
	e := servicetest.Start(t, opts...)
	e.HTTP.Transport = contract.Transport{T: t, Spec: contract.Load(t)}
	return e
}

// tenant is an organisation with an approved sender and a key.
type tenant struct {
	org, keyID, remitter uuid.UUID
	key                  string
}

func newTenant(t *testing.T, e *servicetest.Env, credits int64, rate int, scopes ...string) tenant {
	t.Helper()
	ctx := t.Context()
	a := e.Stack.Admin
	o, err := a.CreateOrganisation(ctx, "Tenant "+t.Name(), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.RegisterSender(ctx, o.ID, "SHOP")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ApproveSender(ctx, s.RemitterID); err != nil {
		t.Fatal(err)
	}
	if len(scopes) == 0 {
		scopes = []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead}
	}
	k, err := a.CreateKey(ctx, o.ID, "test", scopes, rate)
	if err != nil {
		t.Fatal(err)
	}
	if credits > 0 {
		if _, err := a.Credit(ctx, o.ID, credits, "test credits"); err != nil {
			t.Fatal(err)
		}
	}
	return tenant{org: o.ID, keyID: k.KeyID, remitter: s.RemitterID, key: k.Secret}
}

func (tn tenant) request() map[string]any {
	return map[string]any{
		"name": "Black Friday Promo - Luanda", "remitter_id": tn.remitter.String(), "channel_type": "SMS",
		"country_alpha2": "AO", "content": "Flash Sale! Enjoy 50% off on all items this weekend only.",
		"recipients": []string{"+244990000001", "+244990000002", "990000003"},
	}
}

// unlimit lifts a key's rate limit for tests that are about something else.
func unlimit(t *testing.T, e *servicetest.Env, key uuid.UUID) {
	t.Helper()
	if _, err := e.Stack.Admin.SetKeyRate(t.Context(), key, 100_000); err != nil {
		t.Fatal(err)
	}
}

func estimate(t *testing.T, e *servicetest.Env, req map[string]any) int64 {
	t.Helper()
	b, _ := json.Marshal(req)
	r, ferrs := httpapi.ParseBatch(b)
	if ferrs != nil {
		t.Fatal(ferrs)
	}
	return acceptcmd.Estimate(r, e.Stack.Rules.Prices)
}

// accepted returns every CampaignAccepted of org in the log, failing
// unless there are want of them. A read_committed reader stops before a
// transaction still open, and our appends are not transactional: so it
// first waits until everything appended so far is readable.
func accepted(t *testing.T, e *servicetest.Env, org uuid.UUID, want int) []events.Envelope {
	t.Helper()
	adm := kadm.NewClient(e.Stack.Kafka)
	ends, err := adm.ListEndOffsets(t.Context(), kafkalog.OrgEvents)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stable, err := adm.ListCommittedOffsets(t.Context(), kafkalog.OrgEvents)
		if err != nil {
			t.Fatal(err)
		}
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := stable.Lookup(o.Topic, o.Partition); !ok || s.Offset < o.Offset {
				behind = true
			}
		})
		if !behind {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the organisation stream never became readable up to its end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool {
		return ev.Type == events.CampaignAccepted && ev.OrgID == org
	})
	if len(evs) != want {
		t.Fatalf("%d CampaignAccepted in the log, want %d", len(evs), want)
	}
	return evs
}

var (
	traceIDRe   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timestampRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$`)
)

// wantError checks the status and the envelope, and returns the body.
func wantError(t *testing.T, r servicetest.Response, status int, code, service string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	b := r.JSON(t)
	if b["code"] != code || b["status"] != float64(status) || b["service"] != service {
		t.Fatalf("envelope %v, want code %s status %d service %s", b, code, status, service)
	}
	if id, _ := b["trace_id"].(string); !traceIDRe.MatchString(id) {
		t.Fatalf("trace_id %q is not 32 lowercase hex digits", b["trace_id"])
	}
	if ts, _ := b["timestamp"].(string); !timestampRe.MatchString(ts) {
		t.Fatalf("timestamp %q is not like 2026-05-14T10:30:00.000000+00:00", b["timestamp"])
	}
	return b
}

func wantAccepted(t *testing.T, r servicetest.Response) uuid.UUID {
	t.Helper()
	if r.Status != http.StatusAccepted {
		t.Fatalf("got %d %s, want 202", r.Status, r.Body)
	}
	b := r.JSON(t)
	if b["message"] != "Campaign accepted and is pending processing." || len(b) != 2 {
		t.Fatalf("202 body %v", b)
	}
	id, err := uuid.Parse(b["campaign_id"].(string))
	if err != nil || id.Version() != 7 {
		t.Fatalf("campaign_id %v is not a UUIDv7", b["campaign_id"])
	}
	return id
}

// doAt is Env.Do against another instance's base URL.
func doAt(t *testing.T, e *servicetest.Env, base, method, path, key string, body any, hdr ...string) servicetest.Response {
	t.Helper()
	saved := e.BaseURL
	e.BaseURL = base
	defer func() { e.BaseURL = saved }()
	return e.Do(method, path, key, body, hdr...)
}

// The authentication matrix: 401 for a missing, malformed, unknown or
// revoked key (revocation effective on the next request), 403 for a valid
// key without the scope, and keys stored only as hashes.
func TestBatchAuthentication(t *testing.T) {
	e := startChecked(t)
	ctx := t.Context()
	sendOnly := newTenant(t, e, 10_000_000, 0, apikey.ScopeCampaignSend)
	readOnly, err := e.Stack.Admin.CreateKey(ctx, sendOnly.org, "reader", []string{apikey.ScopeCampaignRead}, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := sendOnly.request()
	unknown := apikey.New()
	for name, key := range map[string]string{
		"missing":        "",
		"not a key":      "hello",
		"wrong prefix":   "zk_test_" + unknown[len(apikey.Prefix):],
		"too short":      unknown[:len(unknown)-1],
		"too long":       unknown + "A",
		"bad character":  unknown[:len(unknown)-1] + "!",
		"unknown":        unknown,
		"case changed":   strings.ToUpper(sendOnly.key[:len(apikey.Prefix)]) + sendOnly.key[len(apikey.Prefix):],
		"whitespace pad": " " + sendOnly.key + "x",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.Do(http.MethodPost, batchPath, key, body)
			b := wantError(t, r, http.StatusUnauthorized, "AUTH_INVALID_API_KEY", "core")
			if b["message"] != "The provided API key is invalid or has been revoked." {
				t.Fatalf("message %q", b["message"])
			}
		})
	}

	// A read-only key may read but not send; a send-only key the reverse.
	wantError(t, e.Do(http.MethodPost, batchPath, readOnly.Secret, body), http.StatusForbidden, "AUTH_INSUFFICIENT_SCOPE", "core")
	wantError(t, e.Do(http.MethodGet, "/c/v1/campaigns/"+uuid.Must(uuid.NewV7()).String(), readOnly.Secret, nil),
		http.StatusNotFound, "NOT_FOUND", "core")
	id := wantAccepted(t, e.Do(http.MethodPost, batchPath, sendOnly.key, body))
	wantError(t, e.Do(http.MethodGet, "/c/v1/campaigns/"+id.String(), sendOnly.key, nil), http.StatusForbidden, "AUTH_INSUFFICIENT_SCOPE", "core")

	// Revocation takes effect on the very next request.
	if _, err := e.Stack.Admin.RevokeKey(ctx, sendOnly.keyID); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.Do(http.MethodPost, batchPath, sendOnly.key, body), http.StatusUnauthorized, "AUTH_INVALID_API_KEY", "core")

	// Only the hash is stored, and the secret carries at least 128 bits.
	secret := sendOnly.key[len(apikey.Prefix):]
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) < 16 {
		t.Fatalf("secret %q decodes to %d bytes (%v), want at least 16", secret, len(raw), err)
	}
	var stored []byte
	var leaks int
	if err := e.Stack.DB.QueryRow(ctx, `SELECT key_hash, (SELECT count(*) FROM api_keys a WHERE position($2 IN a::text) > 0)
		FROM api_keys WHERE key_id = $1`, sendOnly.keyID, secret).Scan(&stored, &leaks); err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256([]byte(sendOnly.key)); !bytes.Equal(stored, h[:]) || leaks != 0 {
		t.Fatalf("stored hash matches: %v; rows containing the secret: %d", bytes.Equal(stored, h[:]), leaks)
	}
	accepted(t, e, sendOnly.org, 1)
}

// Every validation rule of the API reference, at and beyond its bounds.
// Refused requests append nothing: the log holds exactly the 202s.
func TestBatchValidation(t *testing.T) {
	e := startChecked(t)
	tn := newTenant(t, e, 100_000_000, 100_000)
	ctx := t.Context()
	pendingSender, err := e.Stack.Admin.RegisterSender(ctx, tn.org, "PENDING")
	if err != nil {
		t.Fatal(err)
	}
	foreign := newTenant(t, e, 0, 0)

	const (
		recipientMsg = "String should match pattern '^\\+?[\\d\\s\\-\\.]{7,30}$'."
		countryMsg   = "String should match pattern '^[A-Z]{2}$'."
		senderMsg    = "Sender ID not found or not approved for this organisation."
	)
	// Numbers that match the pattern but are no phone number: the campaign
	// is accepted and then fails quickly, without sending anything.
	junk := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("000%07d", i)
		}
		return out
	}
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(ks ...string) func(map[string]any) {
		return func(m map[string]any) {
			for _, k := range ks {
				delete(m, k)
			}
		}
	}
	recipientsWith := func(i int, v any) func(map[string]any) {
		return func(m map[string]any) {
			r := []any{"+244990000001", "+244990000002", "+244990000003", "+244990000004"}
			r[i] = v
			m["recipients"] = r
		}
	}
	cases := []struct {
		name   string
		mutate []func(map[string]any)
		fields map[string]string // nil: accepted
	}{
		{"seed example", nil, nil},
		{"name empty", mut(set("name", "")), map[string]string{"name": "String should have at least 1 character"}},
		{"name 1 char", mut(set("name", "x")), nil},
		{"name 200 chars", mut(set("name", strings.Repeat("é", 200))), nil},
		{"name 201 chars", mut(set("name", strings.Repeat("é", 201))), map[string]string{"name": "String should have at most 200 characters"}},
		{"name not a string", mut(set("name", 5)), map[string]string{"name": "Input should be a valid string"}},
		{"content empty", mut(set("content", "")), map[string]string{"content": "String should have at least 1 character"}},
		{"content 10000 chars", mut(set("content", strings.Repeat("a", 10000))), nil},
		{"content 10001 chars", mut(set("content", strings.Repeat("ã", 10001))), map[string]string{"content": "String should have at most 10000 characters"}},
		{"content null", mut(set("content", nil)), map[string]string{"content": "Input should be a valid string"}},
		{"channel lower case", mut(set("channel_type", "sms")), map[string]string{"channel_type": "Input should be 'SMS'"}},
		{"channel unknown", mut(set("channel_type", "EMAIL")), map[string]string{"channel_type": "Input should be 'SMS'"}},
		{"channel not a string", mut(set("channel_type", []int{1})), map[string]string{"channel_type": "Input should be a valid string"}},
		{"recipients 1", mut(set("recipients", []string{"+244990000001"})), map[string]string{"recipients": "Ensure this value has at least 2 items."}},
		{"recipients 2", mut(set("recipients", []string{"+244990000001", "+244990000002"})), nil},
		{"recipients 1000", mut(set("recipients", junk(1000))), nil},
		{"recipients 1001", mut(set("recipients", junk(1001))), map[string]string{"recipients": "Ensure this value has at most 1000 items."}},
		{"recipients not a list", mut(set("recipients", "+244990000001")), map[string]string{"recipients": "Input should be a valid list"}},
		{"recipient 6 digits", mut(recipientsWith(3, "123456")), map[string]string{"recipients[3]": recipientMsg}},
		{"recipient 7 digits", mut(recipientsWith(3, "1234567")), nil},
		{"recipient 30 chars", mut(recipientsWith(3, "+"+strings.Repeat("1", 30))), nil},
		{"recipient 31 chars", mut(recipientsWith(3, strings.Repeat("1", 31))), map[string]string{"recipients[3]": recipientMsg}},
		{"recipient letters", mut(recipientsWith(0, "+244 99O 000 001")), map[string]string{"recipients[0]": recipientMsg}},
		{"recipient not a string", mut(recipientsWith(2, 244990000003)), map[string]string{"recipients[2]": "Input should be a valid string"}},
		{"country lower case", mut(set("country_alpha2", "ao")), map[string]string{"country_alpha2": countryMsg}},
		{"country 3 letters", mut(set("country_alpha2", "AOO")), map[string]string{"country_alpha2": countryMsg}},
		{"country unassigned", mut(set("country_alpha2", "XX")), map[string]string{"country_alpha2": "Value error, 'XX' is not an ISO 3166-1 alpha-2 country code."}},
		{"country without a numbering plan", mut(set("country_alpha2", "AQ")), map[string]string{"country_alpha2": "Value error, 'AQ' (Antarctica) has no telephone numbering plan, so local numbers cannot be read for it; give the country whose numbering plan the recipients' numbers follow."}},
		{"country PT", mut(set("country_alpha2", "PT")), nil},
		{"remitter not a uuid", mut(set("remitter_id", "sender-1")), map[string]string{"remitter_id": "Input should be a valid UUID"}},
		{"remitter v4", mut(set("remitter_id", "550e8400-e29b-41d4-a716-446655440000")), map[string]string{"remitter_id": "UUID version 7 expected"}},
		{"remitter unknown", mut(set("remitter_id", uuid.Must(uuid.NewV7()).String())), map[string]string{"remitter_id": senderMsg}},
		{"remitter not approved", mut(set("remitter_id", pendingSender.RemitterID.String())), map[string]string{"remitter_id": senderMsg}},
		{"remitter of another organisation", mut(set("remitter_id", foreign.remitter.String())), map[string]string{"remitter_id": senderMsg}},
		{"every field missing", mut(del("name", "remitter_id", "channel_type", "recipients", "content", "country_alpha2")), map[string]string{
			"name": "Field required", "remitter_id": "Field required", "channel_type": "Field required",
			"recipients": "Field required", "content": "Field required", "country_alpha2": "Field required"}},
		{"several fields at once", mut(set("name", ""), set("country_alpha2", "ao"), set("recipients", junk(1001))), map[string]string{
			"name": "String should have at least 1 character", "country_alpha2": countryMsg,
			"recipients": "Ensure this value has at most 1000 items."}},
		{"unknown members are ignored", mut(set("priority", "high"), set("metadata", map[string]int{"a": 1})), nil},
	}
	accepts := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tn.request()
			for _, m := range tc.mutate {
				m(req)
			}
			r := e.Do(http.MethodPost, batchPath, tn.key, req)
			if tc.fields == nil {
				wantAccepted(t, r)
				accepts++
				return
			}
			b := wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR", "core")
			if b["message"] != "One or more fields failed validation." {
				t.Fatalf("message %q", b["message"])
			}
			got := map[string]string{}
			for k, v := range b["fields"].(map[string]any) {
				got[k] = v.(string)
			}
			if !maps.Equal(got, tc.fields) {
				t.Fatalf("fields %q\nwant   %q", got, tc.fields)
			}
		})
	}

	// The body as a whole: syntax, type, media type and size.
	seed, _ := json.Marshal(tn.request())
	pad := func(n int) []byte { return append(bytes.Repeat([]byte(" "), n-len(seed)), seed...) }
	bodies := []struct {
		name, contentType string
		body              []byte
		status            int
		code              string
	}{
		{"malformed", "application/json", []byte(`{"name": "x",`), 400, "MALFORMED_JSON"},
		{"trailing data", "application/json", append(append([]byte{}, seed...), '}'), 400, "MALFORMED_JSON"},
		{"empty", "application/json", nil, 400, "MALFORMED_JSON"},
		{"array", "application/json", []byte(`[` + string(seed) + `]`), 422, "INVALID_BODY_TYPE"},
		{"null", "application/json", []byte(`null`), 422, "INVALID_BODY_TYPE"},
		{"text/plain", "text/plain", seed, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"no content type", "", seed, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"form", "application/x-www-form-urlencoded", seed, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"latin-1", "application/json; charset=iso-8859-1", seed, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"utf-8 charset", "application/json; charset=UTF-8", seed, 202, ""},
		{"exactly 1 MiB", "application/json", pad(httpapi.MaxBodyBytes), 202, ""},
		{"1 MiB and a byte", "application/json", pad(httpapi.MaxBodyBytes + 1), 413, "PAYLOAD_TOO_LARGE"},
	}
	for _, tc := range bodies {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(http.MethodPost, batchPath, tn.key, tc.body, "Content-Type", tc.contentType)
			if tc.status == 202 {
				wantAccepted(t, r)
				accepts++
				return
			}
			b := wantError(t, r, tc.status, tc.code, "core")
			if tc.code == "INVALID_BODY_TYPE" {
				if f, _ := b["fields"].(map[string]any); f["body"] != "Input should be a valid dictionary or object" {
					t.Fatalf("fields %v", b["fields"])
				}
			}
		})
	}
	t.Run("oversized chunked body", func(t *testing.T) {
		// No Content-Length: the limit is enforced while reading.
		req, err := http.NewRequest(http.MethodPost, e.BaseURL+batchPath, io.MultiReader(bytes.NewReader(pad(httpapi.MaxBodyBytes+1))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-KEY", tn.key)
		resp, err := e.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, servicetest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, 413, "PAYLOAD_TOO_LARGE", "core")
	})

	accepted(t, e, tn.org, accepts)
}

func mut(fs ...func(map[string]any)) []func(map[string]any) { return fs }

// 402 when the balance less the pending estimates is strictly below the
// estimate, with nothing appended; equal funds are enough; a refused
// Idempotency-Key is free to use again.
func TestBatchInsufficientFunds(t *testing.T) {
	e := startChecked(t)
	tn := newTenant(t, e, 0, 100_000)
	req := tn.request()
	est := estimate(t, e, req)
	ctx := t.Context()
	if _, err := e.Stack.Admin.Credit(ctx, tn.org, est-1, "one short"); err != nil {
		t.Fatal(err)
	}
	for _, hdr := range [][]string{nil, {"Idempotency-Key", "top-up-first"}} {
		b := wantError(t, e.Do(http.MethodPost, batchPath, tn.key, req, hdr...),
			http.StatusPaymentRequired, "BILLING_INSUFFICIENT_FUNDS", "billing")
		if b["message"] != "Your account balance is too low to process this batch request. Please top up your credits." {
			t.Fatalf("message %q", b["message"])
		}
	}
	accepted(t, e, tn.org, 0)

	// Exactly the estimate is enough: only "strictly below" is refused.
	if _, err := e.Stack.Admin.Credit(ctx, tn.org, 1, "the last unit"); err != nil {
		t.Fatal(err)
	}
	first := wantAccepted(t, e.Do(http.MethodPost, batchPath, tn.key, req, "Idempotency-Key", "top-up-first"))

	// Once the ledger shows the first campaign (pending, or debited), the
	// same request again no longer fits.
	waitBalance(t, e, tn.key, func(b map[string]any) bool {
		return b["pending_campaigns"] == 1.0 || len(b["recent_entries"].([]any)) > 2
	})
	wantError(t, e.Do(http.MethodPost, batchPath, tn.key, req), http.StatusPaymentRequired, "BILLING_INSUFFICIENT_FUNDS", "billing")
	if evs := accepted(t, e, tn.org, 1); evs[0].CampaignID != first {
		t.Fatalf("log holds %s, want %s", evs[0].CampaignID, first)
	}
	waitStatus(t, e, tn.key, first, "COMPLETED")
}

// waitStatus is Env.WaitStatus with another organisation's key.
func waitStatus(t *testing.T, e *servicetest.Env, key string, id uuid.UUID, status string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.Do(http.MethodGet, "/c/v1/campaigns/"+id.String(), key, nil)
		if r.Status == http.StatusOK && r.JSON(t)["status"] == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s not %s: %d %s", id, status, r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitBalance polls GET /c/v1/balance until ok holds.
func waitBalance(t *testing.T, e *servicetest.Env, key string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.Do(http.MethodGet, "/c/v1/balance", key, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET balance: %d %s", r.Status, r.Body)
		}
		b := r.JSON(t)
		if ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance never got there: %s", r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Without a processor nothing is debited, so the first campaign stays
// pending: its estimate is held back and the second one is refused. The
// balance endpoint shows the ledger.
func TestBatchPendingEstimatesCount(t *testing.T) {
	e := startChecked(t, servicetest.WithComponents(service.API, service.Projector))
	tn := newTenant(t, e, 0, 100_000)
	req := tn.request()
	est := estimate(t, e, req)
	if _, err := e.Stack.Admin.Credit(t.Context(), tn.org, 2*est-1, "almost two"); err != nil {
		t.Fatal(err)
	}
	first := wantAccepted(t, e.Do(http.MethodPost, batchPath, tn.key, req))
	b := waitBalance(t, e, tn.key, func(b map[string]any) bool { return b["pending"] == float64(est) })
	if b["balance"] != float64(2*est-1) || b["available"] != float64(est-1) || b["pending_campaigns"] != 1.0 || b["currency"] != "AOA" {
		t.Fatalf("balance %v", b)
	}
	entries := b["recent_entries"].([]any)
	if len(entries) != 1 || entries[0].(map[string]any)["kind"] != "CREDIT" || entries[0].(map[string]any)["amount"] != float64(2*est-1) {
		t.Fatalf("entries %v", entries)
	}
	wantError(t, e.Do(http.MethodPost, batchPath, tn.key, req), http.StatusPaymentRequired, "BILLING_INSUFFICIENT_FUNDS", "billing")
	if evs := accepted(t, e, tn.org, 1); evs[0].CampaignID != first {
		t.Fatalf("log holds %s, want %s", evs[0].CampaignID, first)
	}
	// The balance needs the read scope.
	sender, err := e.Stack.Admin.CreateKey(t.Context(), tn.org, "sender", []string{apikey.ScopeCampaignSend}, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, e.Do(http.MethodGet, "/c/v1/balance", sender.Secret, nil), http.StatusForbidden, "AUTH_INSUFFICIENT_SCOPE", "core")
	wantError(t, e.Do(http.MethodPost, "/c/v1/balance", tn.key, nil), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "core")
	for _, m := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
		r := e.Do(m, "/c/v1/campaigns/batch", tn.key, nil)
		wantError(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "core")
		if got := r.Header.Get("Allow"); got != "POST" {
			t.Errorf("%s /c/v1/campaigns/batch: Allow %q, want POST", m, got)
		}
	}
}

// 10 requests per minute per key, counted in Postgres across API
// instances: the 11th is refused on either instance while another key is
// unaffected; every counted response carries the limit headers; refused
// requests count; an administrator can raise a key's limit.
func TestBatchRateLimit(t *testing.T) {
	e := startChecked(t)
	a := newTenant(t, e, 100_000_000, 0)
	bKey, err := e.Stack.Admin.CreateKey(t.Context(), a.org, "other", []string{apikey.ScopeCampaignSend}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bases := []string{e.BaseURL, secondInstance(t, e)}

	checkHeaders := func(r servicetest.Response, limit, remaining int) {
		t.Helper()
		h := r.Header
		if h.Get("X-RateLimit-Limit") != strconv.Itoa(limit) || h.Get("X-RateLimit-Remaining") != strconv.Itoa(remaining) {
			t.Fatalf("X-RateLimit-Limit %q, -Remaining %q; want %d, %d", h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), limit, remaining)
		}
		reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
		now := time.Now().Unix()
		if err != nil || reset < now || reset > now+62 {
			t.Fatalf("X-RateLimit-Reset %q is not an epoch second within the next minute", h.Get("X-RateLimit-Reset"))
		}
		if got, want := h.Get("RateLimit-Policy"), fmt.Sprintf(`"batch";q=%d;w=60`, limit); got != want {
			t.Fatalf("RateLimit-Policy %q, want %q", got, want)
		}
		if !regexp.MustCompile(fmt.Sprintf(`^"batch";r=%d;t=([1-9]|[1-5][0-9]|60)$`, remaining)).MatchString(h.Get("RateLimit")) {
			t.Fatalf("RateLimit %q", h.Get("RateLimit"))
		}
	}
	accepts := 0
	for i := 1; i <= 10; i++ {
		r := doAt(t, e, bases[i%2], http.MethodPost, batchPath, a.key, a.request())
		wantAccepted(t, r)
		accepts++
		checkHeaders(r, 10, 10-i)
	}
	for _, base := range bases {
		r := doAt(t, e, base, http.MethodPost, batchPath, a.key, a.request())
		wantError(t, r, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "ratelimit")
		checkHeaders(r, 10, 0)
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	// Another key of the same organisation has its own window, and its
	// refused requests count too.
	r := doAt(t, e, bases[1], http.MethodPost, batchPath, bKey.Secret, a.request())
	wantAccepted(t, r)
	accepts++
	checkHeaders(r, 10, 9)
	r = e.Do(http.MethodPost, batchPath, bKey.Secret, "{", "Content-Type", "application/json")
	wantError(t, r, http.StatusBadRequest, "MALFORMED_JSON", "core")
	checkHeaders(r, 10, 8)

	// Raising the limit applies from the next request, within the window.
	if _, err := e.Stack.Admin.SetKeyRate(t.Context(), a.keyID, 20); err != nil {
		t.Fatal(err)
	}
	r = e.Do(http.MethodPost, batchPath, a.key, a.request())
	wantAccepted(t, r)
	accepts++
	checkHeaders(r, 20, 7)         // 13 counted: 10 accepted, 2 refused, this one
	accepted(t, e, a.org, accepts) // no 429 appended anything
}

// secondInstance serves the API from its own connection pool and Kafka
// client, as another process would, and returns its base URL.
func secondInstance(t *testing.T, e *servicetest.Env) string {
	t.Helper()
	pool, err := postgres.Open(t.Context(), e.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	dir := postgres.Directory{DB: pool}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := &httpapi.Server{
		Auth:    dir,
		Limiter: postgres.RateLimiter{DB: pool},
		Accept: acceptService(t, acceptcmd.Config{Senders: dir, Log: kafkalog.NewAppender(cl), Rules: e.Stack.Rules, Logger: quiet,
			Ledger: service.LedgerView(pool), Stream: kafkalog.OrgStream{Client: cl, Brokers: e.Brokers},
			Claims: postgres.Idempotency{DB: pool}}),
		Balances: ledger.Reader{DB: pool},
		Log:      quiet,
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// Concurrent requests on any instance never take more than the limit.
func TestRateLimiterConcurrent(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	tn := newTenant(t, e, 0, 0)
	lim := postgres.RateLimiter{DB: e.Stack.DB}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := lim.Take(context.Background(), tn.keyID, 10, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if w.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 10 {
		t.Fatalf("%d of 40 concurrent requests allowed, want 10", allowed)
	}
}

// Idempotency-Key: a retry gets the same 202 and campaign; a different
// request with the key gets 422; keys are per organisation; 20 copies at
// once make one campaign and one debit; and an attempt that crashed after
// (or before) appending is finished by the retry without a second
// CampaignAccepted.
func TestBatchIdempotency(t *testing.T) {
	e := startChecked(t)
	unlimit(t, e, e.Demo.KeyID)
	key := e.Demo.APIKey
	org := e.Demo.OrgID
	req := e.SeedRequest()

	first := e.Do(http.MethodPost, batchPath, key, req, "Idempotency-Key", "order-1")
	id := wantAccepted(t, first)
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("first request marked as replayed")
	}
	// The same request, written differently, is the same request.
	reordered := `{ "recipients": ["+244990000001", "+244990000002", "990000003"], "content": "Flash Sale! Enjoy 50% off on all items this weekend only.",
		"country_alpha2": "AO", "channel_type": "SMS", "name": "Black Friday Promo - Luanda", "remitter_id": "` + e.Demo.RemitterID.String() + `", "extra": 1 }`
	for _, body := range []any{req, reordered} {
		r := e.Do(http.MethodPost, batchPath, key, body, "Idempotency-Key", "order-1")
		if got := wantAccepted(t, r); got != id || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry got %s (replayed %q), want %s", got, r.Header.Get("Idempotent-Replayed"), id)
		}
	}
	changed := e.SeedRequest()
	changed["name"] = "Another campaign"
	wantError(t, e.Do(http.MethodPost, batchPath, key, changed, "Idempotency-Key", "order-1"),
		http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED", "core")

	// Another organisation's identical key is its own.
	other := newTenant(t, e, 10_000_000, 100)
	if got := wantAccepted(t, e.Do(http.MethodPost, batchPath, other.key, other.request(), "Idempotency-Key", "order-1")); got == id {
		t.Fatal("a key of another organisation replayed this one's campaign")
	}

	for name, h := range map[string]string{"too long": strings.Repeat("k", 256), "not ASCII": "pedido-nº1", "empty": ""} {
		t.Run(name, func(t *testing.T) {
			hdr := http.Header{}
			hdr.Set("Idempotency-Key", h)
			r := rawPost(t, e, key, req, hdr)
			wantError(t, r, http.StatusBadRequest, "INVALID_IDEMPOTENCY_KEY", "core")
		})
	}

	// 20 copies at once.
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hdr := http.Header{}
			hdr.Set("Idempotency-Key", "burst")
			r := rawPost(t, e, key, req, hdr)
			if r.Status != http.StatusAccepted {
				t.Errorf("copy %d: %d %s", i, r.Status, r.Body)
				return
			}
			var b map[string]string
			json.Unmarshal(r.Body, &b) //nolint:errcheck
			ids[i] = b["campaign_id"]
		}()
	}
	wg.Wait()
	for _, got := range ids {
		if got != ids[0] {
			t.Fatalf("copies got different campaigns: %v", ids)
		}
	}
	burst := uuid.MustParse(ids[0])

	// Crashed attempts, as they are left in the claim store and the log.
	claims := postgres.Idempotency{DB: e.Stack.DB}
	body, _ := json.Marshal(req)
	parsed, _ := httpapi.ParseBatch(body)
	crashed := func(idemKey string, appended bool) uuid.UUID {
		t.Helper()
		// A zero lease is a holder that died: its claim has lapsed.
		cl, err := claims.Claim(t.Context(), acceptcmd.Claim{OrgID: org, Key: idemKey, RequestHash: acceptcmd.RequestHash(parsed),
			CampaignID: uuid.Must(uuid.NewV7()), EventID: uuid.Must(uuid.NewV7())}, 0, 24*time.Hour)
		if err != nil || !cl.Mine {
			t.Fatalf("claim: %+v %v", cl, err)
		}
		if appended {
			env, err := events.New(cl.EventID, org, cl.CampaignID, events.CampaignAcceptedV1{
				Name: parsed.Name, Content: parsed.Content, ChannelType: parsed.ChannelType, CountryAlpha2: parsed.CountryAlpha2,
				RemitterID: parsed.RemitterID, SenderName: "ZIETT", Recipients: parsed.Recipients, APIKeyID: e.Demo.KeyID,
				EstimatedCost: acceptcmd.Estimate(parsed, e.Stack.Rules.Prices), Currency: "AOA",
			}, time.Now(), "", uuid.Nil, "api")
			if err != nil {
				t.Fatal(err)
			}
			if err := kafkalog.NewAppender(e.Stack.Kafka).Append(t.Context(), events.OnOrgStream(env)); err != nil {
				t.Fatal(err)
			}
		}
		return cl.CampaignID
	}
	afterAppend := crashed("crash-after-append", true)
	if got := wantAccepted(t, e.Do(http.MethodPost, batchPath, key, req, "Idempotency-Key", "crash-after-append")); got != afterAppend {
		t.Fatalf("retry after a crash got %s, want the claimed %s", got, afterAppend)
	}
	beforeAppend := crashed("crash-before-append", false)
	if got := wantAccepted(t, e.Do(http.MethodPost, batchPath, key, req, "Idempotency-Key", "crash-before-append")); got != beforeAppend {
		t.Fatalf("retry after a crash got %s, want the claimed %s", got, beforeAppend)
	}

	for _, c := range []uuid.UUID{id, burst, afterAppend, beforeAppend} {
		e.WaitStatus(c, 30*time.Second, "COMPLETED")
	}
	count := map[uuid.UUID]map[events.Type]int{}
	for _, ev := range e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool { return ev.OrgID == org }) {
		if count[ev.CampaignID] == nil {
			count[ev.CampaignID] = map[events.Type]int{}
		}
		count[ev.CampaignID][ev.Type]++
	}
	for _, c := range []uuid.UUID{id, burst, afterAppend, beforeAppend} {
		if n, d := count[c][events.CampaignAccepted], count[c][events.FundsDebited]; n != 1 || d != 1 {
			t.Errorf("campaign %s: %d CampaignAccepted and %d FundsDebited, want one of each", c, n, d)
		}
	}
	if n := len(count) - 1; n != 4 { // the organisation's own events (FundsCredited) have no campaign
		t.Errorf("%d campaigns for the organisation, want 4", n)
	}
}

// rawPost sends headers as given (Env.Do drops empty values).
func rawPost(t *testing.T, e *servicetest.Env, key string, body any, hdr http.Header) servicetest.Response {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, e.BaseURL+batchPath, bytes.NewReader(b))
	if err != nil {
		t.Error(err)
		return servicetest.Response{}
	}
	req.Header = hdr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-KEY", key)
	resp, err := e.HTTP.Do(req)
	if err != nil {
		t.Error(err)
		return servicetest.Response{}
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return servicetest.Response{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

// The envelope's trace_id comes from a W3C traceparent when one is sent;
// the document is served, and other methods on it get 405.
func TestBatchEnvelopeAndDocument(t *testing.T) {
	e := startChecked(t, servicetest.WithComponents(service.API))
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	b := wantError(t, e.Do(http.MethodPost, batchPath, "", e.SeedRequest(), "traceparent", "00-"+trace+"-00f067aa0ba902b7-01"),
		http.StatusUnauthorized, "AUTH_INVALID_API_KEY", "core")
	if b["trace_id"] != trace {
		t.Fatalf("trace_id %v, want the traceparent's %s", b["trace_id"], trace)
	}
	b = wantError(t, e.Do(http.MethodPost, batchPath, "", e.SeedRequest(), "traceparent", "00-"+strings.Repeat("0", 32)+"-00f067aa0ba902b7-01"),
		http.StatusUnauthorized, "AUTH_INVALID_API_KEY", "core")
	if b["trace_id"] == strings.Repeat("0", 32) {
		t.Fatal("an all-zero trace id was taken from an invalid traceparent")
	}
	r := e.Do(http.MethodGet, "/c/v1/openapi.json", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET openapi.json: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("document: %v, openapi %q", err, doc.OpenAPI)
	}
	for path, method := range map[string]string{batchPath: "post", "/c/v1/campaigns/{campaign_id}": "get",
		"/c/v1/balance": "get", "/healthz": "get", "/c/v1/openapi.json": "get"} {
		if doc.Paths[path][method] == nil {
			t.Errorf("document lacks %s %s", method, path)
		}
	}
	wantError(t, e.Do(http.MethodDelete, "/c/v1/openapi.json", "", nil), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "core")
	if r := e.Do(http.MethodGet, "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz %d", r.Status)
	}
}

func acceptService(t testing.TB, c acceptcmd.Config) *acceptcmd.Service {
	t.Helper()
	s, err := acceptcmd.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

package webhooks_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi/contract"
	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/webhook"
	whproj "ziett.co/campaigns/projections/webhooks"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

// testSchedule is the production schedule's shape in milliseconds.
var testSchedule = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
	160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond, 640 * time.Millisecond}

func fastConfig() webhooks.Config {
	return webhooks.Config{Workers: 4, PollInterval: 10 * time.Millisecond, Schedule: testSchedule, Allow: webhooks.Loopback}
}

// fast runs the sender on the test schedule; receivers on loopback are
// allowed, as in dev mode.
func fast(c *service.Config) { c.Webhooks = fastConfig() }

// env is a stack and an organisation whose key may send, read and manage
// webhooks.
type env struct {
	*servicetest.Env
	t   *testing.T
	key string
}

func start(t *testing.T, opts ...servicetest.Option) *env {
	e := servicetest.Start(t, append([]servicetest.Option{fast}, opts...)...)
	// Every answer of the API is checked against the OpenAPI document.
	e.HTTP.Transport = contract.Transport{T: t, Spec: contract.Load(t)}
	_, key, err := e.Stack.Admin.Dir.CreateKey(t.Context(), e.Demo.OrgID, "webhooks",
		[]string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead, apikey.ScopeWebhooksManage})
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: e, t: t, key: key}
}

func (e *env) do(method, path string, body any) servicetest.Response {
	return e.Do(method, path, e.key, body)
}

// endpoint registers a receiver and returns its id and secret.
func (e *env) endpoint(url string, types ...string) (string, string) {
	e.t.Helper()
	body := map[string]any{"url": url, "description": "test receiver"}
	if len(types) > 0 {
		body["event_types"] = types
	}
	r := e.do(http.MethodPost, "/c/v1/webhooks", body)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("POST /c/v1/webhooks: %d %s", r.Status, r.Body)
	}
	m := r.JSON(e.t)
	return m["webhook_id"].(string), m["secret"].(string)
}

func (e *env) submit(recipients ...string) uuid.UUID {
	e.t.Helper()
	req := e.SeedRequest()
	if len(recipients) > 0 {
		req["recipients"] = recipients
	}
	return e.Submit(req)
}

func (e *env) deliveries(endpoint string, query string) []whproj.Delivery {
	e.t.Helper()
	r := e.do(http.MethodGet, "/c/v1/webhooks/"+endpoint+"/deliveries?limit=100"+query, nil)
	if r.Status != http.StatusOK {
		e.t.Fatalf("GET deliveries: %d %s", r.Status, r.Body)
	}
	var page struct{ Data []whproj.Delivery }
	if err := json.Unmarshal(r.Body, &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Data
}

func (e *env) endpointStatus(id string) map[string]any {
	e.t.Helper()
	r := e.do(http.MethodGet, "/c/v1/webhooks/"+id, nil)
	if r.Status != http.StatusOK {
		e.t.Fatalf("GET endpoint: %d %s", r.Status, r.Body)
	}
	return r.JSON(e.t)
}

// A completed campaign and a failed one each announce every status
// change, signed so that the Standard Webhooks library verifies them,
// with sequence numbers that order them, and the campaign as Retrieve
// Campaign shows it; every attempt is listed.
func TestCampaignStatusWebhooksArriveSignedAndOrdered(t *testing.T) {
	e := start(t)
	rc := newReceiver(t)
	hook, secret := e.endpoint(rc.URL())
	spec := contract.Load(t)

	done := e.submit()
	failed := e.submit("1234567", "7654321")
	e.WaitStatus(done, 30*time.Second, "COMPLETED")
	e.WaitStatus(failed, 30*time.Second, "FAILED")

	want := map[uuid.UUID][]string{
		done:   {whproj.CampaignProcessing, whproj.CampaignSending, whproj.CampaignCompleted},
		failed: {whproj.CampaignProcessing, whproj.CampaignFailed},
	}
	got := rc.waitFor(20*time.Second, "five webhooks", func(g []received) bool {
		return len(byCampaign(g, done)) == 3 && len(byCampaign(g, failed)) == 2
	})
	if len(got) != 5 {
		t.Errorf("receiver got %d requests, want 5 (one per event)", len(got))
	}
	eventIDs := map[uuid.UUID]bool{}
	for id, types := range want {
		evs := slices.Collect(maps.Values(byCampaign(got, id)))
		slices.SortFunc(evs, func(a, b received) int { return a.Event.Sequence - b.Event.Sequence })
		for i, r := range evs {
			verify(t, r, secret)
			// The delivery matches the document's webhooks section.
			if err := spec.CheckWebhook(r.Event.Type, r.Header, r.Body); err != nil {
				t.Error(err)
			}
			if r.Event.Type != types[i] || r.Event.Sequence != i+1 {
				t.Errorf("campaign %s event %d: %s seq %d, want %s seq %d", id, i, r.Event.Type, r.Event.Sequence, types[i], i+1)
			}
			if eventIDs[r.Event.ID] {
				t.Errorf("event id %s repeats", r.Event.ID)
			}
			eventIDs[r.Event.ID] = true
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
			}
		}
		last := evs[len(evs)-1].Event
		var body map[string]any
		json.Unmarshal(evs[len(evs)-1].Body, &body) //nolint:errcheck
		for _, k := range []string{"campaign_id", "name", "status", "recipients", "messages", "segments", "cost", "failure"} {
			if _, ok := body["data"].(map[string]any)[k]; !ok {
				t.Errorf("%s data lacks %q (Retrieve Campaign's key)", last.Type, k)
			}
		}
		switch id {
		case done:
			if last.Data.Status != "COMPLETED" {
				t.Errorf("completed webhook shows status %s", last.Data.Status)
			}
		case failed:
			if last.Data.Status != "FAILED" || last.Data.Failure == nil || last.Data.Failure.Code != "NO_VALID_RECIPIENTS" {
				t.Errorf("failed webhook shows %s %+v, want FAILED NO_VALID_RECIPIENTS", last.Data.Status, last.Data.Failure)
			}
		}
	}

	// The receiver answers before the sender records the attempt.
	var ds []whproj.Delivery
	waitUntil(t, 10*time.Second, "five deliveries recorded", func() bool {
		ds = e.deliveries(hook, "&status=DELIVERED")
		return len(ds) == 5
	})
	if n := len(e.deliveries(hook, "")); n != 5 {
		t.Fatalf("%d deliveries listed, want 5", n)
	}
	for _, d := range ds {
		if d.Status != webhook.Delivered || len(d.Attempts) != 1 || !d.Attempts[0].Succeeded ||
			d.Attempts[0].StatusCode == nil || *d.Attempts[0].StatusCode != 200 {
			t.Errorf("delivery %s: %s with attempts %+v, want DELIVERED after one 200", d.DeliveryID, d.Status, d.Attempts)
		}
		if _, ok := byCampaign(got, d.CampaignID)[d.DeliveryID.String()]; !ok {
			t.Errorf("delivery %s is not a webhook-id the receiver saw", d.DeliveryID)
		}
	}
	// Paging walks the same list.
	r := e.do(http.MethodGet, "/c/v1/webhooks/"+hook+"/deliveries?limit=2", nil)
	var page struct {
		Data       []whproj.Delivery
		HasMore    bool    `json:"has_more"`
		NextCursor *string `json:"next_cursor"`
	}
	json.Unmarshal(r.Body, &page) //nolint:errcheck
	if len(page.Data) != 2 || !page.HasMore || page.NextCursor == nil {
		t.Fatalf("first page: %s", r.Body)
	}
	r = e.do(http.MethodGet, "/c/v1/webhooks/"+hook+"/deliveries?limit=100&cursor="+*page.NextCursor, nil)
	json.Unmarshal(r.Body, &page) //nolint:errcheck
	if len(page.Data) != 3 || page.HasMore {
		t.Fatalf("second page: %s", r.Body)
	}
}

// A receiver that fails N times gets the same webhook-id N+1 times, each
// attempt with its own timestamp and a signature that verifies; every
// attempt is listed. A delivery that exhausts the schedule fails, and a
// resend by hand delivers it.
func TestRetriesKeepTheWebhookID(t *testing.T) {
	e := start(t)
	rc := newReceiver(t)
	const failures = 3
	rc.setRespond(func(_ received, seen int) (int, http.Header) {
		if seen < failures {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	})
	hook, secret := e.endpoint(rc.URL(), whproj.CampaignCompleted)
	id := e.submit()
	got := rc.waitFor(20*time.Second, "a delivered completion", func(g []received) bool { return len(byCampaign(g, id)) == 1 })
	if len(got) != failures+1 {
		t.Fatalf("receiver got %d requests, want %d", len(got), failures+1)
	}
	for i, r := range got {
		if r.ID != got[0].ID {
			t.Errorf("attempt %d has webhook-id %s, want %s", i+1, r.ID, got[0].ID)
		}
		if string(r.Body) != string(got[0].Body) {
			t.Errorf("attempt %d sent a different body", i+1)
		}
		verify(t, r, secret)
	}
	var ds []whproj.Delivery
	waitUntil(t, 10*time.Second, "the delivery recorded", func() bool {
		ds = e.deliveries(hook, "&status=DELIVERED")
		return len(ds) == 1
	})
	if len(ds[0].Attempts) != failures+1 {
		t.Fatalf("deliveries = %+v, want one DELIVERED with %d attempts", ds, failures+1)
	}
	for i, a := range ds[0].Attempts {
		want := 500
		if i == failures {
			want = 200
		}
		if a.Attempt != i+1 || a.StatusCode == nil || *a.StatusCode != want || a.Manual {
			t.Errorf("attempt %d = %+v, want number %d answered %d", i, a, i+1, want)
		}
		if i > 0 && a.StartedAt.Before(ds[0].Attempts[i-1].StartedAt) {
			t.Errorf("attempts out of order")
		}
	}

	// Exhausted: the first attempt and every retry fail.
	rc.setRespond(func(received, int) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	id2 := e.submit()
	var d whproj.Delivery
	waitUntil(t, 20*time.Second, "the delivery to fail", func() bool {
		for _, x := range e.deliveries(hook, "&status=FAILED") {
			if x.CampaignID == id2 {
				d = x
				return true
			}
		}
		return false
	})
	if n := len(d.Attempts); n != len(testSchedule)+1 {
		t.Fatalf("failed after %d attempts, want %d", n, len(testSchedule)+1)
	}
	rc.setRespond(nil)
	r := e.do(http.MethodPost, "/c/v1/webhooks/"+hook+"/deliveries/"+d.DeliveryID.String()+"/resend", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("resend: %d %s", r.Status, r.Body)
	}
	waitUntil(t, 10*time.Second, "the resend to deliver", func() bool {
		for _, x := range e.deliveries(hook, "&status=DELIVERED") {
			if x.DeliveryID == d.DeliveryID {
				d = x
				return true
			}
		}
		return false
	})
	last := d.Attempts[len(d.Attempts)-1]
	if !last.Manual || !last.Succeeded || last.Attempt != len(testSchedule)+2 {
		t.Fatalf("resend attempt = %+v", last)
	}
	if n := len(byCampaign(rc.all(), id2)); n != 1 {
		t.Fatalf("receiver accepted %d distinct webhooks of the second campaign, want 1", n)
	}
}

// A receiver killed mid-stream and brought back on the same address misses
// nothing: what failed meanwhile is retried.
func TestReceiverRestartMissesNothing(t *testing.T) {
	e := start(t)
	rc := newReceiver(t)
	hook, secret := e.endpoint(rc.URL())
	var killed sync.Once
	rc.setRespond(func(received, int) (int, http.Header) {
		killed.Do(func() {
			go func() {
				rc.kill()
				time.Sleep(300 * time.Millisecond)
				rc.restart()
			}()
		})
		return http.StatusOK, nil
	})
	var ids []uuid.UUID
	for range 4 {
		ids = append(ids, e.submit())
	}
	got := rc.waitFor(30*time.Second, "every webhook", func(g []received) bool {
		for _, id := range ids {
			if len(byCampaign(g, id)) != 3 {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		for _, r := range byCampaign(got, id) {
			verify(t, r, secret)
		}
	}
	waitUntil(t, 10*time.Second, "every delivery to be DELIVERED", func() bool {
		ds := e.deliveries(hook, "")
		for _, d := range ds {
			if d.Status != webhook.Delivered {
				return false
			}
		}
		return len(ds) == 12
	})
	retried := 0
	for _, d := range e.deliveries(hook, "") {
		if len(d.Attempts) > 1 {
			retried++
		}
	}
	t.Logf("%d of 12 deliveries needed a retry", retried)
}

// 410 Gone disables the endpoint at once: no further requests, its pending
// deliveries fail; enabling it again lets a resend through.
func TestGoneDisablesTheEndpoint(t *testing.T) {
	// One worker, so no second attempt is already in flight when the
	// first 410 comes back.
	e := start(t, func(c *service.Config) { c.Webhooks.Workers = 1 })
	rc := newReceiver(t)
	rc.setRespond(func(received, int) (int, http.Header) { return http.StatusGone, nil })
	hook, _ := e.endpoint(rc.URL())
	id := e.submit()
	e.WaitStatus(id, 30*time.Second, "COMPLETED")
	waitUntil(t, 10*time.Second, "the endpoint to be disabled", func() bool {
		return e.endpointStatus(hook)["status"] == webhook.Disabled
	})
	ep := e.endpointStatus(hook)
	if !strings.Contains(ep["disabled_reason"].(string), "410") {
		t.Errorf("disabled_reason = %v", ep["disabled_reason"])
	}
	waitUntil(t, 10*time.Second, "no delivery left pending", func() bool {
		return len(e.deliveries(hook, "&status=PENDING")) == 0
	})
	if n := len(rc.all()); n != 1 {
		t.Fatalf("receiver got %d requests, want 1 (the one answered 410)", n)
	}
	// Later changes are not even queued for a disabled endpoint.
	before := len(e.deliveries(hook, ""))
	id2 := e.submit()
	e.WaitStatus(id2, 30*time.Second, "COMPLETED")
	if n := len(e.deliveries(hook, "")); n != before {
		t.Fatalf("a disabled endpoint got %d new deliveries", n-before)
	}

	ds := e.deliveries(hook, "&status=FAILED")
	r := e.do(http.MethodPost, "/c/v1/webhooks/"+hook+"/deliveries/"+ds[0].DeliveryID.String()+"/resend", nil)
	if r.Status != http.StatusConflict || r.JSON(t)["code"] != "WEBHOOK_ENDPOINT_DISABLED" {
		t.Fatalf("resend to a disabled endpoint: %d %s", r.Status, r.Body)
	}
	rc.setRespond(nil)
	r = e.do(http.MethodPost, "/c/v1/webhooks/"+hook+"/enable", nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != webhook.Enabled {
		t.Fatalf("enable: %d %s", r.Status, r.Body)
	}
	r = e.do(http.MethodPost, "/c/v1/webhooks/"+hook+"/deliveries/"+ds[0].DeliveryID.String()+"/resend", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("resend: %d %s", r.Status, r.Body)
	}
	rc.waitFor(10*time.Second, "the resend", func(g []received) bool { return len(g) == 2 && g[1].Status == 200 })
}

// During a rotation both secrets sign, so a receiver checking either one
// accepts; a rotation that keeps no old secret signs with the new alone.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	e := start(t)
	rc := newReceiver(t)
	hook, first := e.endpoint(rc.URL(), whproj.CampaignCompleted)
	r := e.do(http.MethodPost, "/c/v1/webhooks/"+hook+"/secret/rotate", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	second := m["secret"].(string)
	if second == first || m["previous_secret_expires_at"] == nil {
		t.Fatalf("rotation answered %s", r.Body)
	}
	id := e.submit()
	got := rc.waitFor(20*time.Second, "a delivery", func(g []received) bool { return len(byCampaign(g, id)) == 1 })
	if n := len(strings.Fields(got[0].Signature)); n != 2 {
		t.Fatalf("webhook-signature %q carries %d signatures, want 2", got[0].Signature, n)
	}
	verify(t, got[0], first, second)

	r = e.do(http.MethodPost, "/c/v1/webhooks/"+hook+"/secret/rotate", map[string]any{"previous_secret_expires_in": 0})
	if r.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	third := r.JSON(t)["secret"].(string)
	id = e.submit()
	got = rc.waitFor(20*time.Second, "a second delivery", func(g []received) bool { return len(byCampaign(g, id)) == 1 })
	last := got[len(got)-1]
	verify(t, last, third)
	verifyFails(t, last, second)
	verifyFails(t, last, first)
}

// Redirects are failures and are not followed; Retry-After holds the next
// attempt back; an endpoint failing for five days is disabled; a job the
// sender cannot read is set aside, not retried forever.
func TestFailureRules(t *testing.T) {
	e := start(t)
	rc := newReceiver(t)
	rc.setRespond(func(_ received, seen int) (int, http.Header) {
		switch seen {
		case 0:
			return http.StatusFound, http.Header{"Location": {"http://" + rc.addr + "/elsewhere"}}
		case 1:
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusOK, nil
	})
	hook, _ := e.endpoint(rc.URL(), whproj.CampaignCompleted)
	id := e.submit()
	got := rc.waitFor(20*time.Second, "a delivered completion", func(g []received) bool { return len(byCampaign(g, id)) == 1 })
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (302, 503, 200)", len(got))
	}
	for _, g := range got {
		if g.Status == http.StatusNotFound {
			t.Fatalf("the redirect was followed")
		}
	}
	if gap := got[2].At.Sub(got[1].At); gap < 900*time.Millisecond {
		t.Errorf("retry came %s after Retry-After: 1", gap)
	}
	d := e.deliveries(hook, "")[0]
	if a := d.Attempts[0]; a.Succeeded || a.Error == nil || !strings.Contains(*a.Error, "redirect") {
		t.Errorf("redirect attempt = %+v", a)
	}

	// Five days of failures: the clock is the endpoint's failing_since.
	rc.setRespond(func(received, int) (int, http.Header) { return http.StatusInternalServerError, nil })
	id2 := e.submit()
	rc.waitFor(20*time.Second, "a failed attempt", func(g []received) bool {
		for _, r := range g {
			if r.Event.Data.CampaignID == id2 {
				return true
			}
		}
		return false
	})
	if _, err := e.Stack.DB.Exec(t.Context(), `UPDATE webhook_endpoints SET failing_since = now() - interval '5 days 1 minute'`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the endpoint to be disabled", func() bool {
		return e.endpointStatus(hook)["status"] == webhook.Disabled
	})
	if reason, _ := e.endpointStatus(hook)["disabled_reason"].(string); !strings.Contains(reason, "failed since") {
		t.Errorf("disabled_reason = %q", reason)
	}

	// A job nobody can read goes to the poison table instead of blocking.
	if _, err := e.Stack.DB.Exec(t.Context(), `INSERT INTO webhook_queue (uuid, payload, metadata) VALUES ($1, 'not json', '{}')`,
		uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the bad job to be set aside", func() bool {
		var queued, poisoned int
		e.Stack.DB.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM webhook_queue WHERE payload = 'not json'),
			(SELECT count(*) FROM webhook_poison WHERE payload = 'not json')`).Scan(&queued, &poisoned) //nolint:errcheck
		return queued == 0 && poisoned == 1
	})
}

// Without an allow-list the sender refuses a receiver on loopback when it
// connects; the refusal is the attempt's logged error.
func TestBlockedDestinationIsRefused(t *testing.T) {
	e := start(t, func(c *service.Config) { c.Webhooks.Allow = nil })
	rc := newReceiver(t)
	hook, _ := e.endpoint("http://localhost:"+strings.Split(rc.addr, ":")[1]+"/hooks/ziett", whproj.CampaignProcessing)
	e.submit()
	var d whproj.Delivery
	waitUntil(t, 20*time.Second, "a refused attempt", func() bool {
		ds := e.deliveries(hook, "")
		if len(ds) == 1 && len(ds[0].Attempts) > 0 {
			d = ds[0]
			return true
		}
		return false
	})
	a := d.Attempts[0]
	if a.Error == nil || !strings.Contains(*a.Error, "loopback") || a.StatusCode != nil {
		t.Fatalf("attempt = %+v, want a loopback refusal", a)
	}
	if n := len(rc.all()); n != 0 {
		t.Fatalf("the receiver was reached %d times", n)
	}
}

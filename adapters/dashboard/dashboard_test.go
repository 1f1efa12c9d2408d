package dashboard_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"ziett.co/campaigns/adapters/dashboard"
	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

// TestDashboard runs the dashboard's scenarios against one real stack
// (broker, PostgreSQL, every component, webhooks allowed to loopback
// receivers), each as a subtest.
func TestDashboard(t *testing.T) {
	e := servicetest.Start(t, func(c *service.Config) { c.Webhooks = webhooks.Config{Allow: webhooks.Loopback} })
	t.Run("in a browser", func(t *testing.T) { dashboardInBrowser(t, e) })
	t.Run("sessions and scopes", func(t *testing.T) { sessionsAndScopes(t, e) })
	t.Run("cookies are Secure over TLS", func(t *testing.T) { cookiesAreSecureOverTLS(t, e) })
	t.Run("webhooks page", func(t *testing.T) { webhooksPage(t, e) })
	t.Run("single messages page", func(t *testing.T) { singleMessagesPage(t, e) })
}

// dashboardInBrowser drives a real Chromium through the dashboard of
// a real stack: sign-in, a campaign created through the API, one created
// from the form and followed to COMPLETED without a reload, the API's
// validation messages beside the fields, sign-out, and a second
// organisation that never sees the first's campaigns.
func dashboardInBrowser(t *testing.T, e *servicetest.Env) {
	apiID := e.Submit(e.SeedRequest())
	ctx := browser(t, 90*time.Second, 1280, 900)

	t.Run("sign-in shows the campaign created through the API", func(t *testing.T) {
		row := `tr[data-campaign-id="` + apiID.String() + `"]`
		do(t, ctx, signIn(e.BaseURL, e.Demo.APIKey), chromedp.WaitVisible(css(row)))
		if name := text(t, ctx, row+" a"); name != "Black Friday Promo - Luanda" {
			t.Fatalf("row shows %q", name)
		}
	})

	t.Run("the live list keeps keyboard focus where it was", func(t *testing.T) {
		link := "c-" + apiID.String()
		eval[bool](t, ctx, `document.getElementById("list").dataset.before = "1"; document.getElementById("`+link+`").focus(); true`)
		// Wait for the next poll to replace the list.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById("list").dataset.before`)); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](t, ctx, `document.activeElement ? document.activeElement.id : ""`); got != link {
			t.Fatalf("after the list refreshed, focus is on %q, not %q", got, link)
		}
	})

	t.Run("the form shows the API's validation messages beside the fields", func(t *testing.T) {
		do(t, ctx,
			chromedp.Navigate(e.BaseURL+"/campaigns/new"),
			chromedp.WaitVisible(css(`#content`)),
			// The live counter answers as one types.
			chromedp.SendKeys(css(`#content`), "Bom dia ☕"),
			chromedp.WaitVisible(css(`#est-ucs2`)),
		)
		if enc := text(t, ctx, `#est-encoding`); enc != "UCS2" {
			t.Errorf("encoding shows %q, want UCS2", enc)
		}
		do(t, ctx,
			chromedp.SetValue(css(`#recipients`), "+244990000001\nabc"),
			chromedp.Click(css(`#send`)),
			chromedp.WaitVisible(css(`#name-error`)),
		)
		if msg := text(t, ctx, `#name-error`); msg != "String should have at least 1 character" {
			t.Errorf("name error %q", msg)
		}
		if msg := text(t, ctx, `#recipients-error`); !strings.Contains(msg, "Number 2: String should match pattern") {
			t.Errorf("recipients error %q", msg)
		}
	})

	t.Run("a campaign from the form reaches COMPLETED without a reload", func(t *testing.T) {
		do(t, ctx,
			chromedp.Navigate(e.BaseURL+"/campaigns/new"),
			chromedp.WaitVisible(css(`#name`)),
			chromedp.SendKeys(css(`#name`), "Form campaign"),
			chromedp.SendKeys(css(`#content`), "Hello from the dashboard"),
			chromedp.SetValue(css(`#recipients`), "+244990000001\n+244990000002\n990000003"),
			chromedp.Click(css(`#send`)),
			chromedp.WaitVisible(css(`#campaign-status`)),
		)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`/campaigns/([0-9a-f-]{36})\?new=1$`).FindStringSubmatch(loc)
		if m == nil {
			t.Fatalf("after submitting the form the page is %s", loc)
		}
		// Anything that reloads the page loses this.
		eval[bool](t, ctx, `window.stillHere = true`)
		do(t, ctx,
			chromedp.WaitVisible(css(`#campaign-status[data-status="COMPLETED"]`)),
			// The messages and the audit trail came with it.
			chromedp.WaitVisible(css(`#messages-h`)),
			chromedp.WaitVisible(css(`#trail .trail`)),
		)
		if !eval[bool](t, ctx, `window.stillHere === true`) {
			t.Fatal("the page was reloaded")
		}
		// The API sees the same campaign.
		got := e.WaitStatus(uuid.MustParse(m[1]), 10*time.Second, "COMPLETED")
		if got["name"] != "Form campaign" {
			t.Fatalf("API shows %v", got["name"])
		}
	})

	t.Run("a second organisation never sees the first's campaigns", func(t *testing.T) {
		other, err := e.Stack.Admin.CreateDemo(context.Background(), servicetest.Credits,
			[]string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead})
		if err != nil {
			t.Fatal(err)
		}
		do(t, ctx,
			chromedp.Navigate(e.BaseURL+"/campaigns"),
			chromedp.Click(css(`form[action="/signout"] button`)),
			chromedp.WaitVisible(css(`input[name="api_key"]`)),
			signIn(e.BaseURL, other.APIKey),
			// Let the live list poll at least once.
			chromedp.Sleep(2500*time.Millisecond),
		)
		rows := eval[int](t, ctx, `document.querySelectorAll("[data-campaign-id]").length`)
		body := text(t, ctx, `#list`)
		if rows != 0 || strings.Contains(body, "Black Friday") || strings.Contains(body, "Form campaign") {
			t.Fatalf("second organisation sees %d rows: %s", rows, body)
		}
		do(t, ctx, chromedp.Navigate(e.BaseURL+"/campaigns/"+apiID.String()), chromedp.WaitVisible(css(`h1`)))
		if h := text(t, ctx, `h1`); h != "Campaign not found" {
			t.Fatalf("first organisation's campaign page shows %q", h)
		}
	})
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed, and the dashboard's origin on every request.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newClient(t testing.TB, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.base)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page: %.300s", page)
	}
	return m[1]
}

// signInHTTP signs in and returns the session's CSRF token.
func (c *client) signIn(key string) string {
	c.t.Helper()
	_, page := c.do(http.MethodGet, "/signin", nil)
	resp, _ := c.do(http.MethodPost, "/signin", url.Values{"csrf_token": {csrfOf(c.t, page)}, "api_key": {key}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns" {
		c.t.Fatalf("sign-in answered %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = c.do(http.MethodGet, "/campaigns", nil)
	return csrfOf(c.t, page)
}

// sessionsAndScopes checks over real HTTP what a browser cannot show:
// the cookie's attributes, CSRF refusals, a key without the send scope,
// sign-out and expiry.
func sessionsAndScopes(t *testing.T, e *servicetest.Env) {

	t.Run("the session cookie is HttpOnly and SameSite=Strict", func(t *testing.T) {
		c := newClient(t, e.BaseURL)
		_, page := c.do(http.MethodGet, "/signin", nil)
		resp, _ := c.do(http.MethodPost, "/signin", url.Values{"csrf_token": {csrfOf(t, page)}, "api_key": {e.Demo.APIKey}})
		var found bool
		for _, ck := range resp.Cookies() {
			if ck.Name == "ziett_session" && ck.Value != "" {
				found = true
				if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
					t.Fatalf("cookie %+v", ck)
				}
				if strings.Contains(ck.Value, e.Demo.APIKey) {
					t.Fatal("the cookie carries the API key")
				}
			}
		}
		if !found {
			t.Fatal("no session cookie")
		}
	})

	t.Run("a wrong key is refused with the API's message", func(t *testing.T) {
		c := newClient(t, e.BaseURL)
		_, page := c.do(http.MethodGet, "/signin", nil)
		resp, body := c.do(http.MethodPost, "/signin", url.Values{"csrf_token": {csrfOf(t, page)}, "api_key": {"zk_live_nope"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "invalid or has been revoked") {
			t.Fatalf("%d %.200s", resp.StatusCode, body)
		}
	})

	t.Run("forms without the CSRF token or from another origin are refused", func(t *testing.T) {
		c := newClient(t, e.BaseURL)
		c.signIn(e.Demo.APIKey)
		resp, _ := c.do(http.MethodPost, "/campaigns", url.Values{"name": {"x"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("without token: %d", resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodPost, e.BaseURL+"/signout", strings.NewReader("csrf_token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		r2, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site: %d", r2.StatusCode)
		}
	})

	t.Run("a key without the send scope sees no create button and its POST is refused", func(t *testing.T) {
		k, err := e.Stack.Admin.CreateKey(context.Background(), e.Demo.OrgID, "read only", []string{apikey.ScopeCampaignRead}, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, e.BaseURL)
		tok := c.signIn(k.Secret)
		_, page := c.do(http.MethodGet, "/campaigns", nil)
		if strings.Contains(page, `href="/campaigns/new"`) {
			t.Fatal("a read-only key is offered the create button")
		}
		resp, _ := c.do(http.MethodGet, "/campaigns/new", nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("GET form: %d", resp.StatusCode)
		}
		req := e.SeedRequest()
		resp, body := c.do(http.MethodPost, "/campaigns", url.Values{"csrf_token": {tok}, "name": {"sneaky"},
			"remitter_id": {req["remitter_id"].(string)}, "country_alpha2": {"AO"}, "content": {"hi"},
			"recipients": {"+244990000001\n+244990000002"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "apikey:campaign:send") {
			t.Fatalf("POST: %d %.300s", resp.StatusCode, body)
		}
	})

	t.Run("sign-out ends the session", func(t *testing.T) {
		c := newClient(t, e.BaseURL)
		tok := c.signIn(e.Demo.APIKey)
		resp, _ := c.do(http.MethodPost, "/signout", url.Values{"csrf_token": {tok}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		resp, _ = c.do(http.MethodGet, "/campaigns", nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
			t.Fatalf("after sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("an idle or expired session is over", func(t *testing.T) {
		k, err := e.Stack.Admin.CreateKey(context.Background(), e.Demo.OrgID, "expiry", []string{apikey.ScopeCampaignRead}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, sql := range []string{
			`UPDATE dashboard_sessions SET last_seen_at = now() - interval '2 hours' WHERE key_id = $1`,
			`UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' WHERE key_id = $1`,
		} {
			c := newClient(t, e.BaseURL)
			c.signIn(k.Secret)
			if _, err := e.Stack.DB.Exec(context.Background(), sql, k.KeyID); err != nil {
				t.Fatal(err)
			}
			resp, _ := c.do(http.MethodGet, "/campaigns", nil)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: still signed in (%d)", sql, resp.StatusCode)
			}
		}
	})

	t.Run("a revoked key's session is over", func(t *testing.T) {
		k, err := e.Stack.Admin.CreateKey(context.Background(), e.Demo.OrgID, "short lived", []string{apikey.ScopeCampaignRead}, 0)
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, e.BaseURL)
		c.signIn(k.Secret)
		if _, err := e.Stack.Admin.RevokeKey(context.Background(), k.KeyID); err != nil {
			t.Fatal(err)
		}
		resp, _ := c.do(http.MethodGet, "/campaigns", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoked key still signed in: %d", resp.StatusCode)
		}
	})

	t.Run("messages export as CSV, of one status when filtered, for the organisation only", func(t *testing.T) {
		req := e.SeedRequest()
		req["recipients"] = []string{"+244990000001", "+244990000002", "1234567"}
		id := e.Submit(req)
		e.WaitStatus(id, 30*time.Second, "COMPLETED")
		c := newClient(t, e.BaseURL)
		c.signIn(e.Demo.APIKey)
		read := func(path string) (int, [][]string) {
			resp, body := c.do(http.MethodGet, path, nil)
			if resp.StatusCode != http.StatusOK {
				return resp.StatusCode, nil
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				t.Fatalf("%s: Content-Type %s", path, ct)
			}
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return resp.StatusCode, rows
		}
		_, rows := read("/campaigns/" + id.String() + "/messages.csv")
		if len(rows) != 4 || rows[0][0] != "index" || rows[0][4] != "status" {
			t.Fatalf("all messages: %q", rows)
		}
		statuses := map[string]int{}
		for _, r := range rows[1:] {
			statuses[r[4]]++
		}
		if statuses["INVALID"] != 1 || statuses["SENT"]+statuses["DELIVERED"] != 2 {
			t.Fatalf("statuses %v", statuses)
		}
		_, rows = read("/campaigns/" + id.String() + "/messages.csv?status=INVALID")
		if len(rows) != 2 || rows[1][2] != "1234567" {
			t.Fatalf("INVALID only: %q", rows)
		}
		other, err := e.Stack.Admin.CreateDemo(context.Background(), servicetest.Credits, []string{apikey.ScopeCampaignRead})
		if err != nil {
			t.Fatal(err)
		}
		oc := newClient(t, e.BaseURL)
		oc.signIn(other.APIKey)
		if resp, _ := oc.do(http.MethodGet, "/campaigns/"+id.String()+"/messages.csv", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another organisation's export: %d", resp.StatusCode)
		}
	})

	t.Run("API paths keep the API's envelope", func(t *testing.T) {
		r := e.Do(http.MethodGet, "/c/v1/nope", "", nil)
		if r.Status != http.StatusNotFound || r.JSON(t)["code"] != "NOT_FOUND" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

// webhooksPage adds an endpoint from the dashboard, sends it a test
// event that a Standard Webhooks verifier (the spec's own library)
// accepts with the secret the page showed, resends it, and rotates the
// secret, all against the real sender.
func webhooksPage(t *testing.T, e *servicetest.Env) {
	type hit struct {
		body []byte
		hdr  http.Header
	}
	hits := make(chan hit, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits <- hit{b, r.Header.Clone()}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	k, err := e.Stack.Admin.CreateKey(context.Background(), e.Demo.OrgID, "hooks", []string{apikey.ScopeWebhooksManage}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, e.BaseURL)
	tok := c.signIn(k.Secret)
	secretRE := regexp.MustCompile(`<code id="webhook-secret">([^<]+)</code>`)

	resp, page := c.do(http.MethodPost, "/webhooks", url.Values{"csrf_token": {tok}, "url": {"ftp://example.com"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "URL scheme should be &#39;https&#39; or &#39;http&#39;.") {
		t.Fatalf("a bad URL: %d %.300s", resp.StatusCode, page)
	}
	resp, page = c.do(http.MethodPost, "/webhooks", url.Values{"csrf_token": {tok}, "url": {receiver.URL + "/hook"}, "description": {"orders"}})
	m := secretRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusCreated || m == nil {
		t.Fatalf("add endpoint: %d %.300s", resp.StatusCode, page)
	}
	secret := html.UnescapeString(m[1])
	id := regexp.MustCompile(`action="/webhooks/([0-9a-f-]{36})/test"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no test button: %.500s", page)
	}
	receive := func(what string) hit {
		t.Helper()
		select {
		case h := <-hits:
			return h
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: nothing arrived", what)
		}
		return hit{}
	}
	verify := func(h hit, secret string) {
		t.Helper()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(h.body, h.hdr); err != nil {
			t.Fatalf("signature: %v", err)
		}
	}

	resp, _ = c.do(http.MethodPost, "/webhooks/"+id[1]+"/test", url.Values{"csrf_token": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send test: %d", resp.StatusCode)
	}
	h := receive("test event")
	verify(h, secret)
	var ev struct{ Type string }
	if err := json.Unmarshal(h.body, &ev); err != nil || ev.Type != "webhook.test" {
		t.Fatalf("test event %s (%v)", h.body, err)
	}
	delivery := h.hdr.Get("webhook-id")
	// The page lists the delivery, delivered, once the sender recorded it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, page = c.do(http.MethodGet, "/webhooks", nil)
		if strings.Contains(page, `data-delivery-id="`+delivery+`" data-event-type="webhook.test" data-status="DELIVERED"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s not shown as delivered: %.2000s", delivery, page)
		}
		time.Sleep(100 * time.Millisecond)
	}

	resp, _ = c.do(http.MethodPost, "/webhooks/"+id[1]+"/deliveries/"+delivery+"/resend", url.Values{"csrf_token": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resend: %d", resp.StatusCode)
	}
	if h := receive("resend"); h.hdr.Get("webhook-id") != delivery {
		t.Fatalf("resend sent delivery %s, want %s", h.hdr.Get("webhook-id"), delivery)
	}

	resp, page = c.do(http.MethodPost, "/webhooks/"+id[1]+"/rotate", url.Values{"csrf_token": {tok}})
	m = secretRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || html.UnescapeString(m[1]) == secret {
		t.Fatalf("rotate: %d %v", resp.StatusCode, m)
	}
	c.do(http.MethodPost, "/webhooks/"+id[1]+"/test", url.Values{"csrf_token": {tok}})
	verify(receive("test event after rotation"), html.UnescapeString(m[1]))

	other := newClient(t, e.BaseURL)
	otherTok := other.signIn(e.Demo.APIKey) // no webhooks scope
	if resp, _ := other.do(http.MethodPost, "/webhooks/"+id[1]+"/test", url.Values{"csrf_token": {otherTok}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a key without the webhooks scope: %d", resp.StatusCode)
	}
}

// singleMessagesPage: a message sent through Send Message shows on the
// messages page of its organisation only, and its status follows it.
func singleMessagesPage(t *testing.T, e *servicetest.Env) {
	k, err := e.Stack.Admin.CreateKey(context.Background(), e.Demo.OrgID, "otp",
		[]string{apikey.ScopeMessageSend, apikey.ScopeCampaignRead}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Do(http.MethodPost, "/c/v1/messages", k.Secret, map[string]any{
		"remitter_id": e.Demo.RemitterID.String(), "channel_type": "SMS", "country_alpha2": "AO",
		"recipient": "923000001", "content": "Your verification code is 482913.", "reference": "otp-1",
	})
	if r.Status != http.StatusAccepted {
		t.Fatalf("send message: %d %s", r.Status, r.Body)
	}
	id, _ := r.JSON(t)["message_id"].(string)
	c := newClient(t, e.BaseURL)
	c.signIn(e.Demo.APIKey)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, page := c.do(http.MethodGet, "/messages/live", nil)
		row := regexp.MustCompile(`data-message-id="` + id + `"[\s\S]*?data-status="([A-Z]+)"`).FindStringSubmatch(page)
		if row != nil && (row[1] == "SENT" || row[1] == "DELIVERED") {
			if !strings.Contains(page, "otp-1") || !strings.Contains(html.UnescapeString(page), "+244923000001") {
				t.Fatalf("row lacks the reference or the number: %.1500s", page)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not shown as sent: %.1500s", id, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	other, err := e.Stack.Admin.CreateDemo(context.Background(), servicetest.Credits, []string{apikey.ScopeCampaignRead})
	if err != nil {
		t.Fatal(err)
	}
	oc := newClient(t, e.BaseURL)
	oc.signIn(other.APIKey)
	if _, page := oc.do(http.MethodGet, "/messages", nil); strings.Contains(page, id) || strings.Contains(page, "otp-1") {
		t.Fatal("another organisation sees the message")
	}
}

// cookiesAreSecureOverTLS serves the dashboard over TLS and checks
// that the sign-in and session cookies are marked Secure there.
func cookiesAreSecureOverTLS(t *testing.T, e *servicetest.Env) {
	dir := postgres.Directory{DB: e.Stack.DB}
	ui, err := dashboard.New(dashboard.Config{
		Auth: dir, Sessions: postgres.Sessions{DB: e.Stack.DB}, Directory: dir,
		Campaigns: campaigns.Reader{DB: e.Stack.DB}, Lists: campaigns.Reader{DB: e.Stack.DB},
		Trail: kafkalog.Trail{Client: kafkalog.ClientConfig{Brokers: e.Brokers}}, Balances: ledger.Reader{DB: e.Stack.DB},
		Commands: &httpapi.Server{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(ui.Handler())
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	jar := c.hc.Jar
	c.hc = srv.Client()
	c.hc.Jar, c.hc.Timeout = jar, 20*time.Second
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, page := c.do(http.MethodGet, "/signin", nil)
	secure := func(resp *http.Response, name string) {
		t.Helper()
		for _, ck := range resp.Cookies() {
			if ck.Name == name && ck.Value != "" {
				if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
					t.Fatalf("cookie %s over TLS: %+v", name, ck)
				}
				return
			}
		}
		t.Fatalf("no %s cookie", name)
	}
	secure(resp, "ziett_signin")
	resp, _ = c.do(http.MethodPost, "/signin", url.Values{"csrf_token": {csrfOf(t, page)}, "api_key": {e.Demo.APIKey}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in over TLS: %d", resp.StatusCode)
	}
	secure(resp, "ziett_session")
}

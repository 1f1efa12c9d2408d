package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
)

// TestScreenshots writes PNG screenshots of the main pages, with
// representative data, to the directory named by ZIETT_SCREENSHOTS
// (`make screenshots` writes docs/screenshots). Without it there is
// nothing to write and the test does not run.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("ZIETT_SCREENSHOTS")
	if dir == "" {
		t.Skip("set ZIETT_SCREENSHOTS to a directory to write the dashboard's screenshots (make screenshots)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(receiver.Close)
	e := servicetest.Start(t, func(c *service.Config) { c.Webhooks = webhooks.Config{Allow: webhooks.Loopback} })

	// An endpoint, so that campaigns leave deliveries behind.
	k, err := e.Stack.Admin.CreateKey(context.Background(), e.Demo.OrgID, "dashboard",
		[]string{"apikey:campaign:send", "apikey:campaign:read", "apikey:webhooks:manage", "apikey:message:send"}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.Do(http.MethodPost, "/c/v1/webhooks", k.Secret, map[string]any{"url": receiver.URL + "/ziett", "description": "Order system"}); r.Status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	submit := func(name, content string, recipients ...string) {
		req := e.SeedRequest()
		req["name"], req["content"], req["recipients"] = name, content, recipients
		if r := e.Do(http.MethodPost, "/c/v1/campaigns/batch", k.Secret, req); r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
	}
	submit("Welcome series - March", "Bem-vindo à Ziett! Responda STOP para sair.", "+244990000001", "+244990000002", "+244990000003", "1234567")
	submit("Loyalty points reminder", "You have 120 points waiting. Redeem them before 31 March at any store.",
		"+244990000011", "+244990000012", "+244990000013", "+244990000012")
	submit("Black Friday Promo - Luanda", "Flash Sale! Enjoy 50% off on all items this weekend only.",
		"+244990000001", "+244990000002", "990000003", "990000004", "990000005", "990000006")
	submit("Café da manhã ☕ promo", "Café da manhã grátis ☕ — só hoje nas lojas Ziett! ", "+244990000021", "+244990000022")

	for i, ref := range []string{"otp-7731", "order-1042-shipped", "otp-7732"} {
		r := e.Do(http.MethodPost, "/c/v1/messages", k.Secret, map[string]any{
			"remitter_id": e.Demo.RemitterID.String(), "channel_type": "SMS", "country_alpha2": "AO",
			"recipient": "92300000" + string(rune('1'+i)), "content": "Your code is 482913.", "reference": ref,
		})
		if r.Status != http.StatusAccepted {
			t.Fatalf("send message: %d %s", r.Status, r.Body)
		}
	}

	shoot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := browser(t, 2*time.Minute, 1280, 860)
	do(t, ctx, chromedp.Navigate(e.BaseURL+"/signin"), chromedp.WaitVisible(css(`#api_key`)))
	shoot(ctx, "signin")
	do(t, ctx, signIn(e.BaseURL, k.Secret))
	// Wait until every campaign has finished, so the pictures are stable.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("[data-status=COMPLETED], [data-status=FAILED]").length >= 4`)); err != nil {
		t.Fatal(err)
	}
	shoot(ctx, "campaigns")
	do(t, ctx,
		chromedp.Click(css(`tr[data-campaign-id]:first-child a`)),
		chromedp.WaitVisible(css(`#trail .trail`)),
	)
	shoot(ctx, "campaign")
	do(t, ctx,
		chromedp.Navigate(e.BaseURL+"/campaigns/new"),
		chromedp.WaitVisible(css(`#name`)),
		chromedp.SendKeys(css(`#name`), "Easter weekend"),
		chromedp.SetValue(css(`#recipients`), "+244923000001\n923000002\n923000003"),
		chromedp.SendKeys(css(`#content`), "Páscoa feliz ☕ 20% de desconto em todas as lojas até domingo."),
		chromedp.WaitVisible(css(`#est-ucs2`)),
		chromedp.Sleep(300*time.Millisecond),
	)
	shoot(ctx, "new-campaign")
	do(t, ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("name").value = ""`),
		chromedp.SetValue(css(`#recipients`), "+244923000001\n92300"),
		chromedp.Click(css(`#send`)),
		chromedp.WaitVisible(css(`#name-error`)),
	)
	shoot(ctx, "new-campaign-errors")
	do(t, ctx, chromedp.Navigate(e.BaseURL+"/messages"), chromedp.WaitVisible(css(`tr[data-message-id]`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#singles [data-status=SENT], #singles [data-status=DELIVERED]").length >= 3`)); err != nil {
		t.Fatal(err)
	}
	shoot(ctx, "messages")
	do(t, ctx, chromedp.Navigate(e.BaseURL+"/balance"), chromedp.WaitVisible(css(`#balance`)))
	shoot(ctx, "balance")
	do(t, ctx, chromedp.Navigate(e.BaseURL+"/webhooks"), chromedp.WaitVisible(css(`.endpoint`)))
	shoot(ctx, "webhooks")

	phone := browser(t, time.Minute, 390, 844)
	do(t, phone, signIn(e.BaseURL, k.Secret), chromedp.WaitVisible(css(`tr[data-campaign-id]`)))
	shoot(phone, "campaigns-phone")
	do(t, phone, chromedp.Click(css(`tr[data-campaign-id] a`)), chromedp.WaitVisible(css(`#trail .trail`)))
	shoot(phone, "campaign-phone")
	do(t, phone, chromedp.Navigate(e.BaseURL+"/campaigns/new"), chromedp.WaitVisible(css(`#name`)))
	shoot(phone, "new-campaign-phone")
}

package webhooks

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	cmdwh "ziett.co/campaigns/commands/webhooks"
)

// Signatures verify with the Standard Webhooks library, each secret of a
// rotation on its own, and not with a stranger's secret or altered bytes.
func TestSignaturesVerifyWithTheStandardLibrary(t *testing.T) {
	oldSecret, newSecret, stranger := cmdwh.NewSecret(), cmdwh.NewSecret(), cmdwh.NewSecret()
	if !strings.HasPrefix(newSecret, "whsec_") || len(newSecret) != len("whsec_")+44 {
		t.Fatalf("secret %q: want whsec_ and the base64 of 32 bytes", newSecret)
	}
	body := []byte(`{"type":"campaign.completed","data":{"name":"Promo – ünïcode"}}`)
	ts := time.Now().Unix()
	sig, err := SignatureHeader([]string{newSecret, oldSecret}, "msg_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("signature header %q has %d signatures, want 2", sig, n)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, sig)
	for _, s := range []string{newSecret, oldSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("verify with %s…: %v", s[:10], err)
		}
		if err := wh.Verify(append([]byte(nil), append(body, ' ')...), h); err == nil {
			t.Error("an altered body verified")
		}
	}
	wh, _ := standardwebhooks.NewWebhook(stranger)
	if err := wh.Verify(body, h); err == nil {
		t.Error("a stranger's secret verified")
	}
	if _, err := Sign("whsec_not base64!", "x", ts, body); err == nil {
		t.Error("a malformed secret signed")
	}
}

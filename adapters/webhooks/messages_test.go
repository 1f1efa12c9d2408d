package webhooks_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	whproj "ziett.co/campaigns/projections/webhooks"
)

// Single messages announce themselves with message-level events, only to
// endpoints that subscribe to them: a sent message gives message.sent,
// which an endpoint registered for the campaign events does not get.
func TestMessageWebhooksGoToSubscribersOnly(t *testing.T) {
	e := start(t)
	subscribed, quiet := newReceiver(t), newReceiver(t)
	_, secret := e.endpoint(subscribed.URL(), whproj.MessageSent, whproj.MessageFailed, whproj.CampaignCompleted)
	e.endpoint(quiet.URL())

	sent := e.SubmitMessage(map[string]any{"recipient": "+244923000001", "reference": "otp-hook"})
	e.WaitMessage(sent, 20*time.Second, "SENT")
	campaign := e.submit()
	e.WaitStatus(campaign, 20*time.Second, "COMPLETED")

	got := subscribed.waitFor(20*time.Second, "message.sent and campaign.completed", func(g []received) bool {
		return len(g) >= 2
	})
	var msgEvents, campaignEvents int
	for _, r := range got {
		verify(t, r, secret)
		var body struct {
			Type     string `json:"type"`
			Sequence int    `json:"sequence"`
			Data     struct {
				MessageID uuid.UUID `json:"message_id"`
				Status    string    `json:"status"`
				Reference string    `json:"reference"`
				E164      string    `json:"e164"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		switch body.Type {
		case whproj.MessageSent:
			msgEvents++
			if body.Data.MessageID != sent || body.Data.Status != "SENT" || body.Data.Reference != "otp-hook" ||
				body.Data.E164 != "+244923000001" || body.Sequence != 1 {
				t.Errorf("message.sent body %s", r.Body)
			}
		case whproj.CampaignCompleted:
			campaignEvents++
		default:
			t.Errorf("the endpoint did not subscribe to %s", body.Type)
		}
	}
	if msgEvents != 1 || campaignEvents != 1 {
		t.Errorf("%d message.sent and %d campaign.completed, want one each", msgEvents, campaignEvents)
	}
	// The other endpoint gets the campaign's events and nothing of the
	// message.
	for _, r := range quiet.waitFor(20*time.Second, "the campaign's three events", func(g []received) bool { return len(g) >= 3 }) {
		if r.Event.Data.CampaignID == sent || strings.HasPrefix(r.Event.Type, "message.") {
			t.Errorf("an endpoint without message events got %s for %s", r.Event.Type, r.Event.Data.CampaignID)
		}
	}

}

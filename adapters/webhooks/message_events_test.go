package webhooks_test

import (
	"encoding/json"
	"testing"
	"time"

	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/cmd/service/servicetest"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// Message events reach only the endpoints that ask for them: over SMPP to
// the simulator, a delivered, an undelivered and a refused message give an
// opted-in endpoint one message event each, signed, with the receipt in
// its data (the message as the campaign's message list shows it), while an endpoint registered with the defaults keeps receiving
// the campaign's status events alone.
func TestMessageEventsOnlyWhenAsked(t *testing.T) {
	smsc, err := smpp.NewSMSC(smpp.SMSCConfig{Rules: smpp.DefaultRules})
	if err != nil {
		t.Fatal(err)
	}
	if err := smsc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smsc.Close() })
	e := start(t, servicetest.LinkSMPP(smsc.Addr(), 1, 10))
	campaignsOnly := newReceiver(t)
	messages := newReceiver(t)
	plainHook, _ := e.endpoint(campaignsOnly.URL())
	_, secret := e.endpoint(messages.URL(), whproj.MessageDelivered, whproj.MessageUndelivered, whproj.MessageFailed)

	id := e.submit("+244923000001", "+244923000013", "+244923000019")
	e.WaitStatus(id, 30*time.Second, "COMPLETED")
	got := messages.waitFor(60*time.Second, "three message events", func(g []received) bool { return len(byCampaign(g, id)) == 3 })
	types := map[string]map[string]any{}
	for _, r := range byCampaign(got, id) {
		verify(t, r, secret)
		var body struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		types[body.Type] = body.Data
	}
	if d := types[whproj.MessageDelivered]; d == nil || d["status"] != "DELIVERED" || d["delivered_at"] == nil || d["receipt"] == nil {
		t.Errorf("message.delivered data %v", d)
	}
	if d := types[whproj.MessageUndelivered]; d == nil || d["status"] != "UNDELIVERED" || d["error"] == nil {
		t.Errorf("message.undelivered data %v", d)
	}
	if d := types[whproj.MessageFailed]; d == nil || d["status"] != "FAILED" || d["error"].(map[string]any)["code"] != "ESME_RINVDSTADR" {
		t.Errorf("message.failed data %v", d)
	}
	// The defaults: the campaign's three status events and nothing else.
	// Every delivery is recorded in the projector transaction of its log
	// event, so once the message events have arrived, the default
	// endpoint's list holds all it will ever get for them.
	campaignsOnly.waitFor(60*time.Second, "three campaign events", func(g []received) bool { return len(byCampaign(g, id)) >= 3 })
	ds := e.deliveries(plainHook, "")
	for _, d := range ds {
		if d.EventType != whproj.CampaignProcessing && d.EventType != whproj.CampaignSending && d.EventType != whproj.CampaignCompleted {
			t.Errorf("an endpoint registered with the defaults got %s", d.EventType)
		}
	}
	if len(ds) != 3 {
		t.Errorf("default endpoint has %d deliveries, want 3", len(ds))
	}
}

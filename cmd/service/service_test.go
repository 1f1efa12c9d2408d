package service_test

import (
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
	}
	servicetest.Main(m)
}

// The seed's own example goes from 202 to COMPLETED, and the log holds
// the campaign's story in order.
func TestSeedExampleCompletes(t *testing.T) {
	e := servicetest.Start(t)
	id := e.Submit(e.SeedRequest())
	if id.Version() != 7 {
		t.Fatalf("campaign_id %s is UUID version %d, want 7", id, id.Version())
	}
	c := e.WaitStatus(id, 30*time.Second, "COMPLETED", "FAILED")
	if c["status"] != "COMPLETED" {
		t.Fatalf("campaign ended %v: %v", c["status"], c["failure"])
	}
	msgs := c["messages"].(map[string]any)
	if msgs["total"] != 3.0 || msgs["sent"] != 3.0 || msgs["failed"] != 0.0 {
		t.Fatalf("messages = %v, want 3 sent", msgs)
	}
	rc := c["recipients"].(map[string]any)
	if rc["submitted"] != 3.0 || rc["valid"] != 3.0 {
		t.Fatalf("recipients = %v", rc)
	}
	for _, k := range []string{"campaign_id", "name", "status", "channel_type", "remitter_id", "country_alpha2",
		"created_at", "processed_at", "sending_at", "completed_at", "failed_at", "recipients", "messages", "segments", "cost", "failure"} {
		if _, ok := c[k]; !ok {
			t.Errorf("Retrieve Campaign lacks key %q", k)
		}
	}

	var types []events.Type
	for _, ev := range e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool { return ev.CampaignID == id }) {
		types = append(types, ev.Type)
		if ev.OrgID != e.Demo.OrgID {
			t.Errorf("%s carries org %s, want %s", ev.Type, ev.OrgID, e.Demo.OrgID)
		}
	}
	want := []events.Type{events.CampaignAccepted, events.CampaignProcessed, events.FundsDebited, events.MessagesEnqueued, events.CampaignCompleted}
	if !slices.Equal(types, want) {
		t.Fatalf("organisation stream for the campaign = %v, want %v", types, want)
	}
	sent := e.Events(kafkalog.MessageEvents, func(ev events.Envelope) bool { return ev.CampaignID == id && ev.Type == events.MessageSent })
	if len(sent) != 3 {
		t.Fatalf("%d MessageSent events, want 3", len(sent))
	}
}

// Another organisation's campaign is indistinguishable from a missing one.
func TestRetrieveIsScopedToOrganisation(t *testing.T) {
	e := servicetest.Start(t)
	id := e.Submit(e.SeedRequest())
	e.WaitStatus(id, 30*time.Second, "COMPLETED")
	other, err := e.Stack.Admin.CreateDemo(t.Context(), 100, []string{"apikey:campaign:read"})
	if err != nil {
		t.Fatal(err)
	}
	r := e.Do(http.MethodGet, "/c/v1/campaigns/"+id.String(), other.APIKey, nil)
	if r.Status != http.StatusNotFound {
		t.Fatalf("foreign campaign: %d %s, want 404", r.Status, r.Body)
	}
	if b := r.JSON(t); b["code"] != "NOT_FOUND" || b["status"] != 404.0 {
		t.Fatalf("envelope = %v", b)
	}
	r = e.Do(http.MethodGet, "/c/v1/campaigns/019b4b56-e704-7c30-83a0-527df63c3e00", e.Demo.APIKey, nil)
	if r.Status != http.StatusNotFound {
		t.Fatalf("unknown campaign: %d", r.Status)
	}
}

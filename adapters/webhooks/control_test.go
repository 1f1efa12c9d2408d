package webhooks_test

import (
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi/contract"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// A scheduled campaign that is cancelled announces both transitions, in
// order, signed, and as the document's webhooks section describes them.
func TestScheduleAndCancelAreAnnounced(t *testing.T) {
	e := start(t)
	rc := newReceiver(t)
	_, secret := e.endpoint(rc.URL())
	spec := contract.Load(t)
	e.WaitStatus(e.submit(), 30*time.Second, "COMPLETED") // the ledger has caught up

	req := e.SeedRequest()
	req["send_at"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := e.do(http.MethodPost, "/c/v1/campaigns/batch", req)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST batch: %d %s", r.Status, r.Body)
	}
	cid := uuid.MustParse(r.JSON(t)["campaign_id"].(string))
	id := cid.String()
	e.WaitStatus(cid, 10*time.Second, "SCHEDULED")
	if r := e.do(http.MethodPost, "/c/v1/campaigns/"+id+"/cancel", nil); r.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	want := []string{whproj.CampaignProcessing, whproj.CampaignScheduled, whproj.CampaignCancelled}
	got := rc.waitFor(20*time.Second, "three webhooks of the scheduled campaign", func(g []received) bool {
		return len(byCampaign(g, cid)) == len(want)
	})
	evs := slices.Collect(maps.Values(byCampaign(got, cid)))
	slices.SortFunc(evs, func(a, b received) int { return a.Event.Sequence - b.Event.Sequence })
	for i, ev := range evs {
		verify(t, ev, secret)
		if err := spec.CheckWebhook(ev.Event.Type, ev.Header, ev.Body); err != nil {
			t.Error(err)
		}
		if ev.Event.Type != want[i] {
			t.Errorf("event %d: %s, want %s", i, ev.Event.Type, want[i])
		}
	}
	if last := evs[len(evs)-1].Event.Data; last.Status != "CANCELLED" {
		t.Errorf("cancelled webhook shows %s", last.Status)
	}
}

package webhooks_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/webhook"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// A sender stopped mid-stream, with attempts in flight, and started again
// loses nothing and repeats nothing: every outbox delivery reaches the
// receiver exactly once, is recorded once, and the queue ends empty.
func TestSenderRestartLosesAndDuplicatesNothing(t *testing.T) {
	e := start(t, servicetest.WithComponents(slices.DeleteFunc(slices.Clone(service.All), func(c string) bool { return c == service.Webhooks })...))
	rc := newReceiver(t)
	rc.delay = 40 * time.Millisecond // attempts are in flight when the sender stops
	hook, secret := e.endpoint(rc.URL())

	run := func() (stop func()) {
		s, err := webhooks.NewSender(webhooks.SenderConfig{DatabaseURL: e.DBURL, Config: fastConfig(), Log: e.Cfg.Log})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("sender: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("sender did not stop")
			}
		}
	}

	var ids []uuid.UUID
	for range 6 {
		ids = append(ids, e.submit())
	}
	for _, id := range ids {
		e.WaitStatus(id, 30*time.Second, "COMPLETED")
	}
	const want = 18 // six campaigns, three changes each

	stop := run()
	rc.waitFor(20*time.Second, "the first deliveries", func(g []received) bool { return len(g) >= 4 })
	stop()
	mid := len(rc.all())
	var queued int
	if err := e.Stack.DB.QueryRow(t.Context(), `SELECT count(*) FROM webhook_queue`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped after %d of %d deliveries, %d jobs queued", mid, want, queued)
	if mid >= want || queued == 0 {
		t.Fatalf("the sender was not stopped mid-stream (%d received, %d queued)", mid, queued)
	}

	stop = run()
	defer stop()
	// Once every delivery is recorded and no job is left, no attempt can
	// still be on its way: what the receiver has then is all it gets.
	var ds []whproj.Delivery
	waitUntil(t, 20*time.Second, "every delivery recorded and the queue empty", func() bool {
		ds = e.deliveries(hook, "&status=DELIVERED")
		if err := e.Stack.DB.QueryRow(t.Context(), `SELECT count(*) FROM webhook_queue`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		return len(ds) == want && queued == 0
	})
	got := rc.all()
	seen := map[string]int{}
	for _, r := range got {
		seen[r.ID]++
		verify(t, r, secret)
		if r.Status != http.StatusOK {
			t.Errorf("receiver answered %d", r.Status)
		}
	}
	if len(got) != want || len(seen) != want {
		t.Fatalf("receiver got %d requests for %d webhook-ids, want %d of each", len(got), len(seen), want)
	}
	for _, id := range ids {
		if n := len(byCampaign(got, id)); n != 3 {
			t.Errorf("campaign %s: %d webhooks, want 3", id, n)
		}
	}
	if n := len(e.deliveries(hook, "")); n != want {
		t.Fatalf("%d deliveries in the outbox, want %d", n, want)
	}
	for _, d := range ds {
		if d.Status != webhook.Delivered || len(d.Attempts) != 1 || seen[d.DeliveryID.String()] != 1 {
			t.Errorf("delivery %s: %s, %d attempts, received %d times", d.DeliveryID, d.Status, len(d.Attempts), seen[d.DeliveryID.String()])
		}
		// The receiver takes 40 ms to answer; the attempt log says so.
		for _, a := range d.Attempts {
			if a.DurationMS < 40 {
				t.Errorf("delivery %s: attempt took %d ms by the log, the receiver alone took 40", d.DeliveryID, a.DurationMS)
			}
		}
	}
}

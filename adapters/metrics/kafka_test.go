package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/metrics"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

// The produce hook counts what is appended: events by type, deliveries by
// provider, debits with their amount, and a completed campaign's age taken
// from its UUIDv7 id.
func TestKafkaHookCountsAppends(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, kafkalog.OrgEvents, kafkalog.DeliveryTopic("unitel")))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	m := metrics.New()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.WithHooks(m.KafkaHook()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	org := uuid.New()
	// A campaign accepted 1.5s ago: its id carries that instant.
	cid := v7At(time.Now().Add(-1500 * time.Millisecond))
	ev := func(p events.Payload) *kgo.Record {
		env, err := events.New(uuid.New(), org, cid, p, time.Now(), "", uuid.Nil, "test")
		if err != nil {
			t.Fatal(err)
		}
		return kafkalog.Encode(kafkalog.OrgEvents, org, env)
	}
	del, err := kafkalog.EncodeDelivery(events.Delivery{MessageID: uuid.New(), CampaignID: cid, OrgID: org, Provider: "unitel"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx,
		ev(events.FundsDebitedV1{Amount: 1500, Currency: "AOA", BalanceAfter: 10}),
		ev(events.FundsDebitedV1{Amount: 500, Currency: "AOA", BalanceAfter: 10}),
		ev(events.FundsRefundedV1{Amount: 500, Currency: "AOA", Messages: 1}),
		ev(events.CampaignCompletedV1{Total: 3, Sent: 2, Failed: 1, Refunded: 500}),
		del, del,
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		name, labels string
		want         float64
	}{
		{"ziett_events_appended_total", "type=FundsDebited", 2},
		{"ziett_events_appended_total", "type=FundsRefunded", 1},
		{"ziett_events_appended_total", "type=CampaignCompleted", 1},
		{"ziett_deliveries_enqueued_total", "provider=unitel", 2},
		{"ziett_debits_total", "", 2},
		{"ziett_debited_amount_total", "currency=AOA", 2000},
		{"ziett_refunded_amount_total", "currency=AOA", 500},
		{"ziett_campaign_time_to_completed_seconds", "", 1},
	}
	for _, c := range checks {
		if got := series(t, m, c.name)[c.labels]; got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	mfs, _ := m.Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "ziett_campaign_time_to_completed_seconds" {
			sum := mf.GetMetric()[0].GetHistogram().GetSampleSum()
			if sum < 1.4 || sum > 10 {
				t.Errorf("time to completed = %.3fs, want about 1.5s", sum)
			}
		}
	}
}

func TestEventTypeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"co.ziett.campaigns.CampaignAccepted.v1": "CampaignAccepted",
		"co.ziett.campaigns.MessageSent.v1":      "MessageSent",
		"co.ziett.campaigns.MessageSent.v12":     "unknown",
		"co.ziett.campaigns.FundsDebited":        "unknown",
		"com.example.FundsDebited.v1":            "unknown",
		"":                                       "unknown",
	} {
		if got := metrics.EventTypeLabel(in); got != want {
			t.Errorf("EventTypeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// v7At is a UUIDv7 minted at t.
func v7At(t time.Time) uuid.UUID {
	u := uuid.Must(uuid.NewV7())
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	return u
}

// The hook runs for every record the service appends; it must stay far
// below the cost of producing the record.
func BenchmarkKafkaHook(b *testing.B) {
	m := metrics.New()
	h := m.KafkaHook().(kgo.HookProduceRecordUnbuffered)
	org, cid := uuid.New(), uuid.Must(uuid.NewV7())
	env, err := events.New(uuid.New(), org, cid, events.MessageSentV1{}, time.Now(), "0af7651916cd43dd8448eb211c80319c", uuid.New(), "dispatcher")
	if err != nil {
		b.Fatal(err)
	}
	rec := kafkalog.Encode(kafkalog.MessageEvents, cid, env)
	b.ReportAllocs()
	for b.Loop() {
		h.OnProduceRecordUnbuffered(rec, nil)
	}
}

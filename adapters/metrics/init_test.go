package metrics_test

import (
	"context"
	"slices"
	"testing"

	"ziett.co/campaigns/adapters/metrics"
)

// Counters that dashboards and alerts watch exist at 0 before anything
// happened: a refund, a failed webhook, an event type not yet appended,
// a provider's queue, a projection's parked events.
func TestSeriesExistFromTheStart(t *testing.T) {
	m := metrics.New()
	m.Providers([]string{"simulated-a"})
	m.WatchParked([]string{"campaigns", "ledger"}, func(context.Context) (map[string]int64, error) { return map[string]int64{}, nil })
	m.Stage("processor")
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.Metric {
			key := mf.GetName()
			for _, l := range mt.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case mt.Counter != nil:
				have[key] = mt.Counter.GetValue()
			case mt.Histogram != nil:
				have[key] = float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	want := []string{
		"ziett_refunded_amount_total,currency=AOA",
		"ziett_debited_amount_total,currency=AOA",
		"ziett_debits_total",
		"ziett_events_appended_total,type=FundsRefunded",
		"ziett_events_appended_total,type=CampaignFailed",
		"ziett_events_appended_total,type=MessageFailed",
		"ziett_webhook_deliveries_total,outcome=failed",
		"ziett_webhook_deliveries_total,outcome=retry",
		"ziett_webhook_deliveries_total,outcome=delivered",
		"ziett_message_ack_latency_seconds,priority=bulk",
		"ziett_message_ack_latency_seconds,priority=transactional",
		"ziett_deliveries_enqueued_total,provider=simulated-a",
		"ziett_projection_parked_total,projection=ledger",
		"ziett_stage_records_total,stage=processor",
	}
	for _, k := range want {
		v, ok := have[k]
		if !ok {
			t.Errorf("series %s does not exist at start", k)
		} else if v != 0 {
			t.Errorf("series %s = %v at start", k, v)
		}
	}
	if !slices.Contains(metrics.EventTypes(), "FundsRefunded") || len(metrics.EventTypes()) < 10 {
		t.Errorf("event types from the schemas: %v", metrics.EventTypes())
	}
}

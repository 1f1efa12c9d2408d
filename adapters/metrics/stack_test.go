package metrics_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
)

// scrape reads /metrics into "name{labels}" → value.
func scrape(t *testing.T, e *servicetest.Env) map[string]float64 {
	t.Helper()
	r := e.Do(http.MethodGet, "/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(r.Body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unreadable sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the samples whose series starts with prefix.
func sum(samples map[string]float64, prefix string) (float64, bool) {
	total, found := 0.0, false
	for k, v := range samples {
		if strings.HasPrefix(k, prefix) {
			total += v
			found = true
		}
	}
	return total, found
}

// After a campaign has run, /metrics shows it in every layer: the API
// request by route pattern, the events, each stage's throughput, the
// debit, the time to completion, the lag, and the runtime.
func TestMetricsShowACampaign(t *testing.T) {
	e := servicetest.Start(t)
	id := e.Submit(e.SeedRequest())
	e.WaitStatus(id, 30*time.Second, "COMPLETED")

	atLeast := map[string]float64{
		`ziett_http_request_duration_seconds_count{method="POST",route="/c/v1/campaigns/batch",status="202"}`:        1,
		`ziett_http_request_duration_seconds_count{method="GET",route="/c/v1/campaigns/{campaign_id}",status="200"}`: 1,
		`ziett_events_appended_total{type="CampaignAccepted"}`:                                                       1,
		`ziett_events_appended_total{type="FundsDebited"}`:                                                           1,
		`ziett_events_appended_total{type="MessageSent"}`:                                                            3,
		`ziett_events_appended_total{type="CampaignCompleted"}`:                                                      1,
		`ziett_deliveries_enqueued_total{`:                                                                           3,
		`ziett_stage_records_total{stage="processor"}`:                                                               1,
		`ziett_stage_records_total{stage="dispatcher.`:                                                               3,
		`ziett_stage_records_total{stage="completion"}`:                                                              3,
		`ziett_stage_records_total{stage="projection.campaigns"}`:                                                    1,
		`ziett_campaign_time_to_completed_seconds_count`:                                                             1,
		`ziett_debits_total`:                                    1,
		`ziett_debited_amount_total{currency="AOA"}`:            1,
		`ziett_consumer_lag{group="ziett.projection.campaigns"`: 0,
		`ziett_projection_lag_seconds{projection="campaigns"}`:  0,
		// franz-go's client metrics (plugin/kprom), summed over the
		// process's clients.
		`ziett_kafka_connects_total{`:                       1,
		`ziett_kafka_write_bytes_total{`:                    1,
		`ziett_kafka_produce_records_total{`:                3,
		`ziett_kafka_fetch_records_total{`:                  3,
		`ziett_refunded_amount_total{currency="AOA"}`:       0,
		`ziett_events_appended_total{type="FundsRefunded"}`: 0,
		`go_goroutines`:                                     1,
		`go_memory_classes_heap_objects_bytes`:              1,
		`process_resident_memory_bytes`:                     1,
	}
	// Stage counters move when batches commit, which may trail the read
	// model by a moment; poll until every series is there.
	deadline := time.Now().Add(10 * time.Second)
	var missing []string
	for {
		samples := scrape(t, e)
		missing = missing[:0]
		for prefix, min := range atLeast {
			if v, ok := sum(samples, prefix); !ok || v < min {
				missing = append(missing, prefix+" ≥ "+strconv.FormatFloat(min, 'f', -1, 64))
			}
		}
		for k := range samples {
			if strings.Contains(k, id.String()) {
				t.Fatalf("series %s carries a campaign id: routes must be labelled by pattern", k)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a completed campaign, /metrics lacks:\n  %s", strings.Join(missing, "\n  "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A process without the API still answers /healthz, /readyz and /metrics,
// so every process of the production shape can be probed and scraped.
func TestComponentsWithoutAPIServeOps(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.Processor))
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/c/v1/campaigns/batch": 404} {
		if r := e.Do(http.MethodGet, path, "", nil); r.Status != want {
			t.Errorf("GET %s: %d, want %d: %.200s", path, r.Status, want, r.Body)
		}
	}
}

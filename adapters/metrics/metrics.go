// Package metrics is the service's Prometheus instrumentation: one registry
// per running stack with the service's series, the HTTP middleware, a Kafka
// hook that counts what the service appends, the consumer and projection
// lag poller, and the readiness checks behind /readyz.
package metrics

import (
	"context"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/schemas"
)

// Namespace prefixes every series of the service.
const Namespace = "ziett"

// Metrics holds the series. A registry per instance (not the global one)
// lets several stacks run in one process, as the integration tests do.
type Metrics struct {
	Registry *prometheus.Registry

	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	eventsAppended     *prometheus.CounterVec
	deliveriesEnqueued *prometheus.CounterVec
	stageRecords       *prometheus.CounterVec
	stageBatches       *prometheus.CounterVec
	timeToCompleted    prometheus.Histogram
	debits             prometheus.Counter
	debited            *prometheus.CounterVec
	refunded           *prometheus.CounterVec

	webhookDeliveries *prometheus.CounterVec
	webhookDuration   prometheus.Histogram

	parkedTotal *prometheus.CounterVec
	ackLatency  *prometheus.HistogramVec

	kafka *kafkaClients

	// types maps a ce_type header to its counter. It is copied on write
	// so the produce hook, which runs for every record, reads it without
	// a lock.
	typesMu sync.Mutex
	types   atomic.Pointer[map[string]*eventType]
}

// New registers the service's series, the Go runtime's and the process's.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{Registry: reg}

	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time to answer an API request, by route pattern, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method", "status"})
	m.httpInFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "http", Name: "requests_in_flight",
		Help: "API requests being served.",
	})
	m.eventsAppended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "events_appended_total",
		Help: "Events this process appended to the event topics, by event type.",
	}, []string{"type"})
	m.deliveriesEnqueued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "deliveries_enqueued_total",
		Help: "Messages this process put on a provider's delivery queue.",
	}, []string{"provider"})
	m.stageRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "stage_records_total",
		Help: "Records a pipeline stage consumed and committed (processor, completion, dispatcher.<provider>, projection.<name>).",
	}, []string{"stage"})
	m.stageBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "stage_batches_total",
		Help: "Batches (transactions) a pipeline stage committed.",
	}, []string{"stage"})
	m.timeToCompleted = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "campaign_time_to_completed_seconds",
		Help:    "Time from a campaign's acceptance (its UUIDv7 id) to its CampaignCompleted event.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
	})
	m.debits = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "debits_total",
		Help: "FundsDebited events appended (one per campaign that was charged).",
	})
	m.debited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "debited_amount_total",
		Help: "Sum debited, in minor units of the currency.",
	}, []string{"currency"})
	m.refunded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "refunded_amount_total",
		Help: "Sum refunded for failed messages, in minor units of the currency.",
	}, []string{"currency"})
	m.webhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "webhook", Name: "deliveries_total",
		Help: "Webhook delivery attempts by outcome (delivered, retry, failed).",
	}, []string{"outcome"})
	m.webhookDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "webhook", Name: "delivery_duration_seconds",
		Help:    "Time a webhook endpoint took to answer one delivery attempt.",
		Buckets: prometheus.DefBuckets,
	})
	m.parkedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "projection", Name: "parked_total",
		Help: "Events this process's projectors could not apply and parked, by projection.",
	}, []string{"projection"})
	m.ackLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "message", Name: "ack_latency_seconds",
		Help: "Time from a message's acceptance (its campaign's UUIDv7 id; a single message's own id) to the provider's acknowledgement, " +
			"by priority: transactional (Send Message) or bulk (campaigns).",
		Buckets: []float64{.005, .01, .015, .025, .05, .075, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"priority"})
	for _, c := range []prometheus.Collector{
		m.parkedTotal, m.ackLatency, m.httpDuration, m.httpInFlight, m.eventsAppended, m.deliveriesEnqueued, m.stageRecords, m.stageBatches,
		m.timeToCompleted, m.debits, m.debited, m.refunded, m.webhookDeliveries, m.webhookDuration,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsMemory, collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		f(c)
	}
	empty := map[string]*eventType{}
	m.types.Store(&empty)
	m.kafka = &kafkaClients{k: kprom.NewMetrics(Namespace, kprom.Subsystem("kafka"), kprom.Registerer(reg), kprom.Gatherer(reg),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.Batches, kprom.Records, kprom.CompressedBytes, kprom.UncompressedBytes))}
	m.initSeries()
	return m
}

// initSeries creates every series whose labels are known in advance, at
// 0, so that dashboards and alerts see them from the first scrape rather
// than only once something happened (a rate over a series that appears
// with its first event misses that event, and an alert on refunds cannot
// tell "none" from "not exported"). Series labelled by things only the
// stack knows are created where it names them: stages (Stage), providers
// (Providers), projections (WatchParked).
func (m *Metrics) initSeries() {
	for _, t := range EventTypes() {
		m.eventsAppended.WithLabelValues(t)
	}
	m.debited.WithLabelValues(pricing.Currency)
	m.refunded.WithLabelValues(pricing.Currency)
	for _, o := range WebhookOutcomes {
		m.webhookDeliveries.WithLabelValues(o)
	}
	m.ackLatency.WithLabelValues("bulk")
	m.ackLatency.WithLabelValues("transactional")
}

// WebhookOutcomes are the outcomes of a webhook delivery attempt.
var WebhookOutcomes = []string{"delivered", "retry", "failed"}

// EventTypes lists every event type the service has a schema for
// (schemas/events), as the events_appended_total label names them.
func EventTypes() []string {
	names, _ := fs.Glob(schemas.Events, "events/*.json")
	var out []string
	for _, n := range names {
		t := strings.TrimSuffix(path.Base(n), ".json")
		if i := strings.LastIndex(t, ".v"); i > 0 {
			t = t[:i]
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Providers creates the series of each provider's delivery queue at 0.
func (m *Metrics) Providers(names []string) {
	for _, n := range names {
		m.deliveriesEnqueued.WithLabelValues(n)
	}
}

// KafkaClientHook is the kgo hook (kgo.WithHooks) that feeds franz-go's
// client metrics (plugin/kprom) of every client of the process.
func (m *Metrics) KafkaClientHook() kgo.Hook { return m.kafka }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Stage returns a hook for a stage's commit point: it counts the records
// and the batch that just committed.
func (m *Metrics) Stage(name string) func(kgo.Fetches) {
	recs, batches := m.stageRecords.WithLabelValues(name), m.stageBatches.WithLabelValues(name)
	return func(fs kgo.Fetches) {
		recs.Add(float64(fs.NumRecords()))
		batches.Inc()
	}
}

// Parked counts an event a projector parked (the projector runner's Parked hook).
func (m *Metrics) Parked(projection string) {
	m.parkedTotal.WithLabelValues(projection).Inc()
}

// WatchParked adds the gauge of events parked now, per projection, read
// with count at each scrape (the table is shared by every process, so the
// counter above, per process, cannot tell it).
func (m *Metrics) WatchParked(projectionNames []string, count func(context.Context) (map[string]int64, error)) {
	for _, n := range projectionNames {
		m.parkedTotal.WithLabelValues(n)
	}
	m.Registry.MustRegister(&parkedCollector{names: projectionNames, count: count,
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "projection", "parked_events"),
			"Events parked now (could not be applied; see `ziett projections parked`), by projection.",
			[]string{"projection"}, nil)})
}

type parkedCollector struct {
	names []string
	count func(context.Context) (map[string]int64, error)
	desc  *prometheus.Desc
}

func (c *parkedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *parkedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, n := range c.names {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[n]), n)
	}
}

// WebhookDelivery records one attempt to deliver a webhook.
func (m *Metrics) WebhookDelivery(outcome string, took time.Duration) {
	m.webhookDeliveries.WithLabelValues(outcome).Inc()
	m.webhookDuration.Observe(took.Seconds())
}

// MessageAcked records how long after its acceptance a provider
// acknowledged a message (dispatch.Config.Acked).
func (m *Metrics) MessageAcked(priority bool, d time.Duration) {
	label := "bulk"
	if priority {
		label = "transactional"
	}
	m.ackLatency.WithLabelValues(label).Observe(d.Seconds())
}

package smpp

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of one link (a provider's SMPP account).
// Several links share the series through the link label: NewMetrics on the
// same Registerer again reuses the collectors already registered.
type Metrics struct {
	link string

	bindUp       *prometheus.GaugeVec
	bindFailures *prometheus.CounterVec
	window       *prometheus.GaugeVec
	submitRTT    *prometheus.HistogramVec
	submitStatus *prometheus.CounterVec
	throttled    *prometheus.CounterVec
	unknown      *prometheus.CounterVec
	receipts     *prometheus.CounterVec
	mo           *prometheus.CounterVec
	deliverErrs  *prometheus.CounterVec
	unmatched    *prometheus.CounterVec
}

// NewMetrics registers (or reuses) the series on reg and returns the view of
// them labelled with link. A nil reg gives series that are not exported.
func NewMetrics(reg prometheus.Registerer, link string) (*Metrics, error) {
	m := &Metrics{link: link}
	var err error
	reuse := func(c prometheus.Collector) prometheus.Collector {
		if reg == nil || err != nil {
			return c
		}
		if e := reg.Register(c); e != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(e, &are) {
				return are.ExistingCollector
			}
			err = e
		}
		return c
	}
	const ns, sub = "ziett", "smpp"
	m.bindUp = reuse(prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "bind_up",
		Help: "1 while a bind of the link is bound, by bind index and kind (trx, tx, rx)."}, []string{"link", "bind", "kind"})).(*prometheus.GaugeVec)
	m.bindFailures = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "bind_failures_total",
		Help: "Connections or binds that failed or dropped, by reason (dial, bind status name, dropped)."}, []string{"link", "reason"})).(*prometheus.CounterVec)
	m.window = reuse(prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "window_in_use",
		Help: "submit_sm sent and not yet answered, over all binds of the link."}, []string{"link"})).(*prometheus.GaugeVec)
	m.submitRTT = reuse(prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "submit_round_trip_seconds",
		Help:    "Time from writing a submit_sm to reading its submit_sm_resp.",
		Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"link"})).(*prometheus.HistogramVec)
	m.submitStatus = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "submit_responses_total",
		Help: "submit_sm_resp by command_status name."}, []string{"link", "status"})).(*prometheus.CounterVec)
	m.throttled = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "throttled_total",
		Help: "submit_sm answered ESME_RTHROTTLED or ESME_RMSGQFUL (retried after a pause)."}, []string{"link", "status"})).(*prometheus.CounterVec)
	m.unknown = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "unknown_outcomes_total",
		Help: "submit_sm whose response never came (timeout or dropped connection)."}, []string{"link"})).(*prometheus.CounterVec)
	m.receipts = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "receipts_total",
		Help: "Delivery receipts received, by stat (DELIVRD, UNDELIV, …)."}, []string{"link", "stat"})).(*prometheus.CounterVec)
	m.mo = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "mobile_originated_total",
		Help: "Mobile-originated deliver_sm received."}, []string{"link"})).(*prometheus.CounterVec)
	m.deliverErrs = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "deliver_errors_total",
		Help: "deliver_sm answered ESME_RX_T_APPN because handling failed, or undecodable, by reason."}, []string{"link", "reason"})).(*prometheus.CounterVec)
	m.unmatched = reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "receipts_unmatched_total",
		Help: "Receipts whose message id matched no message sent (counted by the caller)."}, []string{"link"})).(*prometheus.CounterVec)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ReceiptUnmatched counts a receipt the caller could not match to a message.
func (m *Metrics) ReceiptUnmatched() {
	if m != nil {
		m.unmatched.WithLabelValues(m.link).Inc()
	}
}

// The methods below are nil-safe so a Client without Metrics skips them.

func (m *Metrics) setBind(idx int, kind string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.bindUp.WithLabelValues(m.link, strconv.Itoa(idx), kind).Set(v)
}

func (m *Metrics) bindFailed(reason string) {
	if m != nil {
		m.bindFailures.WithLabelValues(m.link, reason).Inc()
	}
}

func (m *Metrics) windowAdd(d float64) {
	if m != nil {
		m.window.WithLabelValues(m.link).Add(d)
	}
}

func (m *Metrics) submitted(status uint32, seconds float64) {
	if m == nil {
		return
	}
	m.submitRTT.WithLabelValues(m.link).Observe(seconds)
	m.submitStatus.WithLabelValues(m.link, StatusName(status)).Inc()
	if status == ESME_RTHROTTLED || status == ESME_RMSGQFUL {
		m.throttled.WithLabelValues(m.link, StatusName(status)).Inc()
	}
}

func (m *Metrics) unknownOutcome() {
	if m != nil {
		m.unknown.WithLabelValues(m.link).Inc()
	}
}

func (m *Metrics) delivered(d Delivery) {
	if m == nil {
		return
	}
	if d.Receipt != nil {
		m.receipts.WithLabelValues(m.link, statLabel(d.Receipt.Stat)).Inc()
	} else {
		m.mo.WithLabelValues(m.link).Inc()
	}
}

func (m *Metrics) deliverError(reason string) {
	if m != nil {
		m.deliverErrs.WithLabelValues(m.link, reason).Inc()
	}
}

// statLabel bounds the stat label to the values the spec's appendix lists.
func statLabel(s string) string {
	switch s {
	case "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE":
		return s
	}
	return "OTHER"
}

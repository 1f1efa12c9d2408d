package metrics

import "github.com/prometheus/client_golang/prometheus"

// Receipts returns the function the receipt stage calls for every message
// it decides, counting ziett_receipt_outcomes_total{status} (DELIVERED,
// UNDELIVERED, EXPIRED, REJECTED). The SMPP links' own series
// (ziett_smpp_*: binds, window, round trips, throttling, receipts by stat,
// unmatched receipts) are registered on Registry by each link.
func (m *Metrics) Receipts() func(status string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "receipt_outcomes_total",
		Help: "Messages decided by their delivery receipts (one receipt event each), by status.",
	}, []string{"status"})
	if err := m.Registry.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			c = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return func(status string) { c.WithLabelValues(status).Inc() }
}

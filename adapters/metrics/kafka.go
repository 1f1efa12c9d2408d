package metrics

import (
	"encoding/json"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

// KafkaHook is a kgo hook (kgo.WithHooks) that counts every record the
// client appends: events by type, deliveries by provider, debits and
// refunds, and each campaign's time to completion. Counting where records
// are produced covers every writer (API, processor, completion monitor,
// dispatchers) without touching their code.
//
// Records of a transaction that later aborts are counted too; aborts
// happen only on errors, and the retry appends the same events again.
func (m *Metrics) KafkaHook() kgo.Hook { return produceHook{m} }

type produceHook struct{ m *Metrics }

var _ kgo.HookProduceRecordUnbuffered = produceHook{}

func (h produceHook) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err != nil {
		return
	}
	m := h.m
	if p, ok := strings.CutPrefix(r.Topic, kafkalog.DeliveriesPrefix); ok {
		m.deliveriesEnqueued.WithLabelValues(p).Inc()
		return
	}
	ceType := kafkalog.EventTypeHeader(r)
	if ceType == nil {
		return
	}
	t := m.eventType(ceType)
	t.appended.Inc()
	switch t.name {
	case events.CampaignCompleted:
		if at, ok := acceptedAt(kafkalog.CampaignHeader(r)); ok {
			m.timeToCompleted.Observe(time.Since(at).Seconds())
		}
	case events.FundsDebited:
		var f events.FundsDebitedV1
		if json.Unmarshal(r.Value, &f) == nil {
			m.debits.Inc()
			m.debited.WithLabelValues(f.Currency).Add(float64(f.Amount))
		}
	case events.FundsRefunded:
		var f events.FundsRefundedV1
		if json.Unmarshal(r.Value, &f) == nil {
			m.refunded.WithLabelValues(f.Currency).Add(float64(f.Amount))
		}
	}
}

// eventType is what the hook needs to know about a ce_type value.
type eventType struct {
	name     events.Type
	appended prometheus.Counter
}

// eventType finds a ce_type header value's entry, creating it on first
// sight.
func (m *Metrics) eventType(ceType []byte) *eventType {
	if t, ok := (*m.types.Load())[string(ceType)]; ok {
		return t
	}
	m.typesMu.Lock()
	defer m.typesMu.Unlock()
	cur := *m.types.Load()
	if t, ok := cur[string(ceType)]; ok {
		return t
	}
	key := string(ceType)
	name := EventTypeLabel(key)
	t := &eventType{name: events.Type(name), appended: m.eventsAppended.WithLabelValues(name)}
	next := maps.Clone(cur)
	next[key] = t
	m.types.Store(&next)
	return t
}

// EventTypeLabel is the label of a type attribute
// ("co.ziett.campaigns.CampaignAccepted.v1"): the registered event's name
// ("CampaignAccepted"), or "unknown" for a type the registry does not hold,
// which keeps the label's values bounded.
func EventTypeLabel(ceType string) string {
	if k, ok := kafkalog.KindOf(ceType); ok {
		return string(k.Type)
	}
	return "unknown"
}

// acceptedAt reads the acceptance time out of a campaign id: ids are
// UUIDv7, minted when the API accepts the campaign, and their first 48 bits
// are that moment in Unix milliseconds. No state, no join with the
// organisation stream, and it works in whichever process completes.
func acceptedAt(id []byte) (time.Time, bool) {
	u, err := uuid.ParseBytes(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec), true
}

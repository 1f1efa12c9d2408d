// Package complete watches message outcomes and closes a campaign once
// every one of its messages is terminal, refunding what failed.
package complete

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

const source = "completion-monitor"

type tally struct {
	org      uuid.UUID
	total    int
	sent     int
	failed   int
	refund   int64
	currency string
	seen     map[int]bool
	trace    string
}

// Monitor is the kafkalog.Stage over message events. Its state is, per
// campaign still open, which messages have an outcome; message events are
// keyed by campaign, so one partition holds everything a campaign needs.
type Monitor struct {
	Log *slog.Logger
	Now func() time.Time

	open map[int32]map[uuid.UUID]*tally
	// closed remembers completed campaigns so that a late duplicate outcome
	// cannot reopen one and complete it twice.
	closed map[int32]map[uuid.UUID]bool
}

func NewMonitor(log *slog.Logger) *Monitor {
	return &Monitor{Log: log, Now: time.Now, open: map[int32]map[uuid.UUID]*tally{}, closed: map[int32]map[uuid.UUID]bool{}}
}

func (m *Monitor) Forget(_ string, partition int32) {
	delete(m.open, partition)
	delete(m.closed, partition)
}

func (m *Monitor) Fold(r *kgo.Record) { m.apply(r, nil) }

func (m *Monitor) Handle(_ context.Context, recs []*kgo.Record, emit func(*kgo.Record)) error {
	for _, r := range recs {
		if err := m.apply(r, emit); err != nil {
			return err
		}
	}
	return nil
}

// apply counts one outcome; with a nil emit it only rebuilds state.
func (m *Monitor) apply(r *kgo.Record, emit func(*kgo.Record)) error {
	e, err := kafkalog.Decode(r)
	if err != nil {
		if emit != nil {
			m.Log.Error("skipping undecodable record", "topic", r.Topic, "offset", r.Offset, "err", err)
		}
		return nil
	}
	var o events.MessageOutcome
	switch e.Type {
	case events.MessageSent:
		var p events.MessageSentV1
		if e.Decode(&p) != nil {
			return nil
		}
		o = p.MessageOutcome
	case events.MessageFailed:
		var p events.MessageFailedV1
		if e.Decode(&p) != nil {
			return nil
		}
		o = p.MessageOutcome
	default:
		return nil
	}
	part := r.Partition
	if m.closed[part][e.CampaignID] {
		return nil
	}
	if m.open[part] == nil {
		m.open[part] = map[uuid.UUID]*tally{}
	}
	t := m.open[part][e.CampaignID]
	if t == nil {
		t = &tally{org: e.OrgID, total: o.CampaignTotal, seen: make(map[int]bool, o.CampaignTotal), trace: e.TraceID}
		m.open[part][e.CampaignID] = t
	}
	if t.seen[o.Index] {
		return nil
	}
	t.seen[o.Index] = true
	if e.Type == events.MessageSent {
		t.sent++
	} else {
		t.failed++
		t.refund += o.Cost
		t.currency = o.Currency
	}
	if t.sent+t.failed < t.total {
		return nil
	}
	delete(m.open[part], e.CampaignID)
	if m.closed[part] == nil {
		m.closed[part] = map[uuid.UUID]bool{}
	}
	m.closed[part][e.CampaignID] = true
	if emit == nil {
		return nil
	}
	return m.complete(e, t, emit)
}

func (m *Monitor) complete(last events.Envelope, t *tally, emit func(*kgo.Record)) error {
	now := m.Now()
	cid := last.CampaignID
	// Ids derive from the campaign: completing is once per campaign.
	put := func(p events.Payload) error {
		env, err := events.New(events.DerivedID(cid, p.EventType(), 0), t.org, cid, p, now, t.trace, last.ID, source)
		if err != nil {
			return err
		}
		emit(kafkalog.Encode(kafkalog.OrgEvents, t.org, env))
		return nil
	}
	if t.refund > 0 {
		if err := put(events.FundsRefundedV1{Amount: t.refund, Currency: t.currency, Messages: t.failed}); err != nil {
			return err
		}
	}
	return put(events.CampaignCompletedV1{Total: t.total, Sent: t.sent, Failed: t.failed, Refunded: t.refund})
}

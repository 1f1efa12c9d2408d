// Package complete watches message outcomes and closes a campaign once
// every one of its messages is terminal, refunding what failed.
package complete

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
)

const source = "completion-monitor"

// closedHorizon is how long a completed campaign is remembered. An outcome
// can only come from a delivery still on its queue, and queues keep
// deliveries for 7 days, so nothing older can ever try to reopen one.
const closedHorizon = 8 * 24 * time.Hour

type tally struct {
	Org    uuid.UUID `json:"org"`
	Total  int       `json:"total"`
	Sent   int       `json:"sent"`
	Failed int       `json:"failed"`
	// Cancelled messages were never handed over (campaign cancelled).
	Cancelled int    `json:"cancelled,omitempty"`
	Refund    int64  `json:"refund"`
	Currency  string `json:"currency,omitempty"`
	// Seen is a bitset of the recipient indexes whose message has an
	// outcome: a campaign of 1000 recipients costs at most 125 bytes.
	Seen  []byte `json:"seen"`
	Trace string `json:"trace,omitempty"`
}

// maxIndex bounds recipient indexes far above the API's limit, so that a
// corrupt outcome cannot make a tally allocate without bound.
const maxIndex = 1 << 20

func (t *tally) seen(i int) bool { return i/8 < len(t.Seen) && t.Seen[i/8]&(1<<(i%8)) != 0 }
func (t *tally) mark(i int) {
	if n := i/8 + 1; n > len(t.Seen) {
		t.Seen = append(t.Seen, make([]byte, n-len(t.Seen))...)
	}
	t.Seen[i/8] |= 1 << (i % 8)
}

// partState is what the monitor knows about one partition.
type partState struct {
	Open map[uuid.UUID]*tally `json:"open"`
	// Closed maps completed campaigns to when they completed, so that a
	// late duplicate outcome cannot reopen one and complete it twice.
	Closed map[uuid.UUID]time.Time `json:"closed"`
	// Latest is the newest outcome time seen, the clock closed entries age
	// by (a fold must not depend on the wall clock).
	Latest time.Time `json:"latest"`
	// Control is, per campaign paused or cancelled by its customer, that
	// state and the messages held back while paused.
	Control map[uuid.UUID]*control `json:"control,omitempty"`
}

// control is a campaign's customer control state on its message stream.
type control struct {
	State string `json:"state"` // paused, cancelled, or "" once resumed
	// Held are deliveries the dispatchers held back while the campaign
	// was paused, in the order they were held.
	Held []events.Delivery `json:"held,omitempty"`
}

const (
	statePaused    = "paused"
	stateCancelled = "cancelled"
)

// Monitor is the stage over the message stream. Its state is, per
// campaign still open, which messages have an outcome; message events are
// keyed by campaign, so one partition holds everything a campaign needs.
type Monitor struct {
	cfg   Config
	parts map[int32]*partState
}

// Config configures a Monitor; NewMonitor applies the defaults.
type Config struct {
	// Log receives the events the monitor cannot read. Default: a logger
	// that discards.
	Log *slog.Logger
	// Now stamps the events it emits. Default: time.Now.
	Now func() time.Time
}

// NewMonitor applies cfg's defaults and returns the monitor; no config is
// invalid.
func NewMonitor(cfg Config) *Monitor {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Monitor{cfg: cfg, parts: map[int32]*partState{}}
}

func (m *Monitor) part(p int32) *partState {
	s := m.parts[p]
	if s == nil {
		s = &partState{Open: map[uuid.UUID]*tally{}, Closed: map[uuid.UUID]time.Time{}, Control: map[uuid.UUID]*control{}}
		m.parts[p] = s
	}
	return s
}

// Open is the number of campaigns of a partition still waiting for outcomes.
func (m *Monitor) Open(partition int32) int { return len(m.part(partition).Open) }

func (m *Monitor) Forget(_ string, partition int32) { delete(m.parts, partition) }

func (m *Monitor) Fold(msg events.Message) { m.apply(msg, nil) } //nolint:errcheck // nil emit cannot fail

// Snapshot is the state of a shard, for the loop to store beside the
// offsets it covers. Closed campaigns older than the horizon are dropped
// first, which keeps snapshots bounded.
func (m *Monitor) Snapshot(_ string, partition int32) (json.RawMessage, error) {
	s := m.part(partition)
	for id, at := range s.Closed {
		if s.Latest.Sub(at) > closedHorizon {
			delete(s.Closed, id)
		}
	}
	return json.Marshal(s)
}

// Restore replaces a shard's state with a snapshot's.
func (m *Monitor) Restore(_ string, partition int32, state json.RawMessage) error {
	var s partState
	if err := json.Unmarshal(state, &s); err != nil {
		return err
	}
	if s.Open == nil {
		s.Open = map[uuid.UUID]*tally{}
	}
	if s.Closed == nil {
		s.Closed = map[uuid.UUID]time.Time{}
	}
	if s.Control == nil {
		s.Control = map[uuid.UUID]*control{}
	}
	for id, t := range s.Open {
		if t == nil || t.Total <= 0 || len(t.Seen) > maxIndex/8 {
			return fmt.Errorf("campaign %s: malformed tally", id)
		}
	}
	m.parts[partition] = &s
	return nil
}

// Handle counts outcomes and follows control events; it returns the
// completions, refunds, requeued and cancelled messages they lead to.
func (m *Monitor) Handle(_ context.Context, in []events.Message) ([]events.Message, error) {
	var out []events.Message
	emit := func(o events.Message) { out = append(out, o) }
	for _, msg := range in {
		if err := m.apply(msg, emit); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// apply counts one outcome; with a nil emit it only rebuilds state.
func (m *Monitor) apply(msg events.Message, emit func(events.Message)) error {
	e := msg.Event
	var o events.MessageOutcome
	switch p := e.Payload().(type) {
	case events.CampaignPausedV1, events.CampaignResumedV1, events.CampaignCancelledV1, events.MessageHeldV1:
		return m.applyControl(msg.At.Shard, e, emit)
	case events.MessageCancelledV1:
		o = p.MessageOutcome
	case events.MessageSentV1:
		o = p.MessageOutcome
	case events.MessageFailedV1:
		o = p.MessageOutcome
	default:
		return nil
	}
	s := m.part(msg.At.Shard)
	if e.OccurredAt.After(s.Latest) {
		s.Latest = e.OccurredAt
	}
	if _, done := s.Closed[e.CampaignID]; done {
		return nil
	}
	t := s.Open[e.CampaignID]
	if t == nil {
		if o.CampaignTotal <= 0 {
			m.warn(emit, "outcome without a campaign size", e)
			return nil
		}
		t = &tally{Org: e.OrgID, Total: o.CampaignTotal, Trace: e.TraceID}
		s.Open[e.CampaignID] = t
	}
	if o.Index < 0 || o.Index >= maxIndex {
		m.warn(emit, "outcome index outside its campaign", e)
		return nil
	}
	if t.seen(o.Index) {
		return nil
	}
	t.mark(o.Index)
	switch e.Type {
	case events.MessageSent:
		t.Sent++
	case events.MessageCancelled:
		t.Cancelled++
		t.Refund += o.Cost
		t.Currency = o.Currency
	default:
		t.Failed++
		t.Refund += o.Cost
		t.Currency = o.Currency
	}
	if t.Sent+t.Failed+t.Cancelled < t.Total {
		return nil
	}
	delete(s.Open, e.CampaignID)
	delete(s.Control, e.CampaignID)
	s.Closed[e.CampaignID] = e.OccurredAt
	if emit == nil {
		return nil
	}
	return m.complete(e, t, emit)
}

func (m *Monitor) warn(emit func(events.Message), msg string, e events.Envelope) {
	if emit != nil {
		m.cfg.Log.Error(msg, "event_id", e.ID, "campaign_id", e.CampaignID)
	}
}

func (m *Monitor) complete(last events.Envelope, t *tally, emit func(events.Message)) error {
	now := m.cfg.Now()
	cid := last.CampaignID
	// Ids derive from the campaign: completing is once per campaign.
	put := func(p events.Payload) error {
		env, err := events.New(events.DerivedID(cid, p.EventType(), 0), t.Org, cid, p, now, t.Trace, last.ID, source)
		if err != nil {
			return err
		}
		emit(events.OnOrgStream(env))
		return nil
	}
	if t.Refund > 0 {
		if err := put(events.FundsRefundedV1{Amount: t.Refund, Currency: t.Currency, Messages: t.Failed + t.Cancelled}); err != nil {
			return err
		}
	}
	return put(events.CampaignCompletedV1{Total: t.Total, Sent: t.Sent, Failed: t.Failed, Refunded: t.Refund, Cancelled: t.Cancelled})
}

// applyControl follows a campaign's pause, resume and cancel on its message
// stream, where the dispatchers' held messages arrive in the same order, so
// no held message can be missed by a resume or a cancel: one held after the
// resume is put back at once, one held after the cancel is cancelled.
// With a nil emit it only rebuilds state.
func (m *Monitor) applyControl(partition int32, e events.Envelope, emit func(events.Message)) error {
	s := m.part(partition)
	if _, done := s.Closed[e.CampaignID]; done {
		return nil
	}
	c := s.Control[e.CampaignID]
	if c == nil {
		c = &control{}
		s.Control[e.CampaignID] = c
	}
	switch e.Type {
	case events.CampaignPaused:
		if c.State != stateCancelled {
			c.State = statePaused
		}
	case events.CampaignResumed:
		if c.State != statePaused {
			return nil
		}
		c.State = ""
		held := c.Held
		c.Held = nil
		for _, d := range held {
			requeue(d, emit)
		}
	case events.CampaignCancelled:
		if c.State == stateCancelled {
			return nil
		}
		c.State = stateCancelled
		held := c.Held
		c.Held = nil
		for _, d := range held {
			if err := m.cancelMessage(e, d, emit); err != nil {
				return err
			}
		}
	case events.MessageHeld:
		h, ok := e.Payload().(events.MessageHeldV1)
		if !ok {
			m.warn(emit, "held message of an unknown version", e)
			return nil
		}
		switch c.State {
		case statePaused:
			c.Held = append(c.Held, h.Delivery)
		case stateCancelled:
			return m.cancelMessage(e, h.Delivery, emit)
		default:
			requeue(h.Delivery, emit)
		}
	}
	return nil
}

// requeue puts a held delivery back on its provider's queue.
func requeue(d events.Delivery, emit func(events.Message)) {
	if emit == nil {
		return
	}
	d.Requeued++
	emit(events.ToDeliver(d))
}

// cancelMessage records that a held message will never be sent. Its id
// derives from the message, as a dispatcher's cancellation of it would, so
// there is one per message.
func (m *Monitor) cancelMessage(cause events.Envelope, d events.Delivery, emit func(events.Message)) error {
	if emit == nil {
		return nil
	}
	p := events.MessageCancelledV1{MessageOutcome: events.MessageOutcome{
		MessageID: d.MessageID, Index: d.Index, Provider: d.Provider, CampaignTotal: d.CampaignTotal,
		Cost: d.Cost, Currency: d.Currency,
	}}
	env, err := events.New(events.DerivedID(d.MessageID, events.MessageCancelled, 0), d.OrgID, d.CampaignID,
		p, m.cfg.Now(), d.TraceID, cause.ID, source)
	if err != nil {
		return err
	}
	emit(events.OnMessageStream(env))
	return nil
}

// Package receipts turns operator delivery receipts into delivery outcome
// events, exactly once per message.
//
// A provider link appends each receipt it is handed, matched to our
// message, to the receipts stream (an events.Receipt) before it
// acknowledges it to the SMSC. An SMSC delivers a receipt again when our
// acknowledgement did not reach it, so the stream can hold a receipt twice.
// The Decider is the transactional stage over that stream: per message it
// gathers its parts' receipts and, once every part has one, emits one
// MessageDelivered or MessageUndelivered on the message stream in the same
// transaction as the consumed offsets. Its state (which messages are
// decided, which parts are in) is a fold of the stream, snapshotted like the
// completion monitor's, so a receipt read again after a crash, an abort or
// a rebalance finds its message decided and produces nothing.
package receipts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
)

const source = "receipts"

// Horizon is how long a campaign's decided messages are remembered after
// its last receipt, by the log's clock: a receipt delivered again after
// that would be decided a second time. SMSCs deliver a receipt again
// seconds to minutes after an unanswered attempt, and give up within hours.
const Horizon = 48 * time.Hour

// part is one part's receipt.
type part struct {
	Ref  string    `json:"ref"`
	Stat string    `json:"stat"`
	Err  string    `json:"err"`
	Done time.Time `json:"done,omitzero"`
	Raw  string    `json:"raw,omitempty"`
}

// pending is a multi-part message some of whose parts have receipts.
type pending struct {
	Parts []*part `json:"parts"`
}

// campaign is what the stage knows of one campaign's receipts.
type campaign struct {
	// Decided is a bitset of the indexes whose message has its receipt
	// event: 125 bytes for a campaign of 1000.
	Decided []byte `json:"decided"`
	// Pending holds multi-part messages still waiting for parts, by index.
	Pending map[int]*pending `json:"pending,omitempty"`
	Last    time.Time        `json:"last"`
}

func (c *campaign) decided(i int) bool { return i/8 < len(c.Decided) && c.Decided[i/8]&(1<<(i%8)) != 0 }
func (c *campaign) decide(i int) {
	if n := i/8 + 1; n > len(c.Decided) {
		c.Decided = append(c.Decided, make([]byte, n-len(c.Decided))...)
	}
	c.Decided[i/8] |= 1 << (i % 8)
}

type partState struct {
	Campaigns map[uuid.UUID]*campaign `json:"campaigns"`
	// Latest is the newest receipt time seen: the clock campaigns age by
	// (a fold must not read the wall clock).
	Latest time.Time `json:"latest"`
}

// Decider is the stage over the receipts stream: receipts in, one
// MessageDelivered or MessageUndelivered per message out.
type Decider struct {
	cfg   Config
	parts map[int32]*partState
}

// Config configures a Decider; NewDecider applies the defaults.
type Config struct {
	// Log receives the receipts the decider cannot place. Default: a
	// logger that discards.
	Log *slog.Logger
	// Decided is told of every event emitted (metrics), by status.
	// Default: nothing is told.
	Decided func(status string)
}

// NewDecider applies cfg's defaults and returns the decider; no config is
// invalid.
func NewDecider(cfg Config) *Decider {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Decided == nil {
		cfg.Decided = func(string) {}
	}
	return &Decider{cfg: cfg, parts: map[int32]*partState{}}
}

func (d *Decider) part(p int32) *partState {
	s := d.parts[p]
	if s == nil {
		s = &partState{Campaigns: map[uuid.UUID]*campaign{}}
		d.parts[p] = s
	}
	return s
}

func (d *Decider) Forget(_ string, partition int32) { delete(d.parts, partition) }

func (d *Decider) Fold(m events.Message) { d.apply(m, nil) } //nolint:errcheck // nil out cannot fail

// Handle decides the messages the receipts complete.
func (d *Decider) Handle(_ context.Context, in []events.Message) ([]events.Message, error) {
	var out []events.Message
	for _, m := range in {
		if err := d.apply(m, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Snapshot is the state of a shard, for the loop to store beside the
// offsets it covers; campaigns idle past the horizon are dropped first.
func (d *Decider) Snapshot(_ string, partition int32) (json.RawMessage, error) {
	s := d.part(partition)
	s.expire()
	return json.Marshal(s)
}

// Restore replaces a shard's state with a snapshot's.
func (d *Decider) Restore(_ string, partition int32, state json.RawMessage) error {
	var s partState
	if err := json.Unmarshal(state, &s); err != nil {
		return err
	}
	if s.Campaigns == nil {
		s.Campaigns = map[uuid.UUID]*campaign{}
	}
	for id, c := range s.Campaigns {
		if c == nil || len(c.Decided) > events.MaxReceiptIndex/8 {
			return fmt.Errorf("campaign %s: malformed receipt state", id)
		}
		for _, p := range c.Pending {
			if p == nil || len(p.Parts) < 1 || len(p.Parts) > events.MaxReceiptParts {
				return fmt.Errorf("campaign %s: malformed pending message", id)
			}
		}
	}
	d.parts[partition] = &s
	return nil
}

func (s *partState) expire() {
	for id, c := range s.Campaigns {
		if s.Latest.Sub(c.Last) > Horizon {
			delete(s.Campaigns, id)
		}
	}
}

// Open is the number of campaigns a partition's state holds (tests).
func (d *Decider) Open(partition int32) int { return len(d.part(partition).Campaigns) }

// apply folds one receipt; with out set it also appends the message's
// event to it when this receipt completes it.
func (d *Decider) apply(m events.Message, out *[]events.Message) error {
	r := *m.Receipt
	s := d.part(m.At.Shard)
	at := m.At.Time.UTC()
	if at.After(s.Latest) {
		s.Latest = at
	}
	c := s.Campaigns[r.CampaignID]
	if c == nil {
		c = &campaign{}
		s.Campaigns[r.CampaignID] = c
	}
	c.Last = at
	if c.decided(r.Index) {
		return nil // a receipt delivered again
	}
	p := part{Ref: r.Ref, Stat: r.Stat, Err: r.Err, Done: r.Done, Raw: r.Raw}
	parts := []*part{&p}
	if r.Parts > 1 {
		pm := c.Pending[r.Index]
		if pm == nil {
			pm = &pending{Parts: make([]*part, r.Parts)}
			if c.Pending == nil {
				c.Pending = map[int]*pending{}
			}
			c.Pending[r.Index] = pm
		}
		if r.Part >= len(pm.Parts) {
			if out != nil {
				d.cfg.Log.Error("receipt part outside its message", "message_id", r.MessageID, "part", r.Part, "parts", len(pm.Parts))
			}
			return nil
		}
		if pm.Parts[r.Part] == nil {
			pm.Parts[r.Part] = &p
		}
		for _, q := range pm.Parts {
			if q == nil {
				return nil // waiting for other parts
			}
		}
		parts = pm.Parts
		delete(c.Pending, r.Index)
	}
	c.decide(r.Index)
	if out == nil {
		return nil
	}
	e, err := d.decide(r, parts, at)
	if err != nil {
		return err
	}
	*out = append(*out, events.OnMessageStream(e))
	return nil
}

// Decide is the rule for a message from its parts' receipts: the worst
// part decides (events.ReceiptSeverity), the first of equals. It returns
// the status and the deciding part's position.
func Decide(stats []string) (string, int) {
	worst, at := "", 0
	for i, st := range stats {
		s := events.ReceiptStatus(st)
		if i == 0 || events.ReceiptSeverity(s) > events.ReceiptSeverity(worst) {
			worst, at = s, i
		}
	}
	return worst, at
}

// decide is the event of a message whose parts all have their receipts.
func (d *Decider) decide(r events.Receipt, parts []*part, at time.Time) (events.Envelope, error) {
	stats := make([]string, len(parts))
	refs := make([]string, len(parts))
	for i, p := range parts {
		stats[i], refs[i] = p.Stat, p.Ref
	}
	status, k := Decide(stats)
	dp := parts[k]
	done := dp.Done
	if done.IsZero() {
		done = at
	}
	m := events.MessageReceipt{MessageID: r.MessageID, Index: r.Index, Provider: r.Provider, Status: status,
		Parts: len(parts), ProviderRefs: refs, Stat: dp.Stat, Err: dp.Err, Raw: dp.Raw, DoneAt: done.UTC()}
	var p events.Payload = events.MessageUndeliveredV1{MessageReceipt: m}
	if status == events.ReceiptDelivered {
		p = events.MessageDeliveredV1{MessageReceipt: m}
	}
	// The id derives from the message: one receipt event per message, and
	// a replay (which the state prevents) would be recognisable.
	env, err := events.New(events.DerivedID(r.MessageID, p.EventType(), 0), r.OrgID, r.CampaignID, p, at, "", r.MessageID, source)
	if err == nil {
		d.cfg.Decided(status)
	}
	return env, err
}

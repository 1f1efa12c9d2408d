// Package process turns an accepted campaign into priced, routed messages
// and debits the organisation for them. It is the only writer of debits for
// the organisations whose partitions it owns.
package process

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/optout"
	"ziett.co/campaigns/domain/plan"
)

const source = "processor"

type account struct {
	balance int64
}

// Processor is the stage over the organisation stream. Its state
// is each organisation's balance, a fold of FundsCredited, FundsDebited and
// FundsRefunded; owning the partition makes it the only debit writer, so
// the balance it checks cannot be spent concurrently elsewhere.
type Processor struct {
	Config

	accounts map[int32]map[uuid.UUID]*account
	// pending holds debits this instance emitted and has not yet read back:
	// already subtracted, so they must not be subtracted again.
	pending map[int32]map[uuid.UUID]bool
	// processed holds the campaigns processed within ProcessedWindow, with
	// when, so that a campaign accepted twice is processed once.
	processed map[int32]map[uuid.UUID]time.Time
	// scheduled holds accepted campaigns waiting for their send_at.
	scheduled map[int32]map[uuid.UUID]Scheduled
	// suppressed is each organisation's suppression list.
	suppressed map[int32]map[uuid.UUID]map[string]bool
}

// Config configures a Processor; NewProcessor applies the defaults.
type Config struct {
	// Rules route, price and plan the campaigns.
	// Default: the zero rules (nothing routed, nothing priced).
	Rules plan.Rules
	// Log receives the events the processor cannot read. Default: a
	// logger that discards.
	Log *slog.Logger
	// Now stamps the events it emits. Default: time.Now.
	Now func() time.Time
	// Keywords are the replies that stop and restart messages.
	// Default: optout.DefaultKeywords (when both lists are empty).
	Keywords optout.Keywords
}

// Scheduled is an accepted campaign held until SendAt.
type Scheduled struct {
	Accepted events.Envelope `json:"accepted"`
	SendAt   time.Time       `json:"send_at"`
}

// ProcessedWindow is how long a processed campaign is remembered. The
// command endpoint appends a campaign's CampaignAccepted once, but an
// attempt that outlived its Idempotency-Key lease (a stalled process that
// wakes up after another took the key over) could append the same one
// again; that can only happen while the key is alive, which is at most
// 24 hours.
const ProcessedWindow = 25 * time.Hour

// NewProcessor applies cfg's defaults and returns the processor; no config
// is invalid.
func NewProcessor(cfg Config) *Processor {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Keywords.Stop) == 0 && len(cfg.Keywords.Start) == 0 {
		cfg.Keywords = optout.DefaultKeywords
	}
	return &Processor{Config: cfg,
		accounts: map[int32]map[uuid.UUID]*account{}, pending: map[int32]map[uuid.UUID]bool{},
		processed: map[int32]map[uuid.UUID]time.Time{}, scheduled: map[int32]map[uuid.UUID]Scheduled{},
		suppressed: map[int32]map[uuid.UUID]map[string]bool{}}
}

// suppress adds (on) or removes a number from an organisation's list.
func (p *Processor) suppress(partition int32, org uuid.UUID, e164 string, on bool) {
	orgs := p.suppressed[partition]
	if orgs == nil {
		orgs = map[uuid.UUID]map[string]bool{}
		p.suppressed[partition] = orgs
	}
	list := orgs[org]
	if list == nil {
		list = map[string]bool{}
		orgs[org] = list
	}
	if on {
		list[e164] = true
	} else {
		delete(list, e164)
	}
}

// Suppressed reports whether the organisation suppressed the number.
func (p *Processor) Suppressed(partition int32, org uuid.UUID, e164 string) bool {
	return p.suppressed[partition][org][e164]
}

// applySuppression folds a suppression change; it reports whether e was one.
func (p *Processor) applySuppression(partition int32, e events.Envelope) bool {
	switch s := e.Payload().(type) {
	case events.NumberSuppressedV1:
		if s.E164 != "" {
			p.suppress(partition, e.OrgID, s.E164, true)
		}
		return true
	case events.NumberUnsuppressedV1:
		if s.E164 != "" {
			p.suppress(partition, e.OrgID, s.E164, false)
		}
		return true
	}
	return false
}

// inbound turns a stop or start keyword from a recipient into a change of
// the organisation's suppression list, applied at once so that the next
// campaign of the partition already skips the number.
func (p *Processor) inbound(partition int32, e events.Envelope, emit func(events.Message)) error {
	in, ok := e.Payload().(events.InboundMessageReceivedV1)
	if !ok {
		return nil
	}
	from := in.From
	if from != "" && from[0] != '+' {
		from = "+" + from
	}
	var out events.Payload
	body := events.SuppressionV1{E164: from, Source: events.SuppressionByKeyword, Keyword: strings.TrimSpace(in.Text)}
	switch p.Keywords.Classify(in.Text) {
	case optout.Stop:
		out = events.NumberSuppressedV1{SuppressionV1: body}
	case optout.Start:
		out = events.NumberUnsuppressedV1{SuppressionV1: body}
	default:
		return nil
	}
	env, err := events.New(events.DerivedID(e.ID, out.EventType(), 0), e.OrgID, uuid.Nil, out, p.Now(), e.TraceID, e.ID, source)
	if err != nil {
		return err
	}
	emit(events.OnOrgStream(env))
	p.suppress(partition, e.OrgID, from, out.EventType() == events.NumberSuppressed)
	return nil
}

func (p *Processor) schedule(partition int32, acc events.Envelope, at time.Time) {
	m := p.scheduled[partition]
	if m == nil {
		m = map[uuid.UUID]Scheduled{}
		p.scheduled[partition] = m
	}
	m[acc.CampaignID] = Scheduled{Accepted: acc, SendAt: at}
}

// Scheduled lists the campaigns of a partition waiting for their send_at.
func (p *Processor) Scheduled(partition int32) []Scheduled {
	out := make([]Scheduled, 0, len(p.scheduled[partition]))
	for _, s := range p.scheduled[partition] {
		out = append(out, s)
	}
	return out
}

func (p *Processor) markProcessed(partition int32, campaign uuid.UUID, at time.Time) {
	m := p.processed[partition]
	if m == nil {
		m = map[uuid.UUID]time.Time{}
		p.processed[partition] = m
	}
	m[campaign] = at
}

func (p *Processor) acct(partition int32, org uuid.UUID) *account {
	m := p.accounts[partition]
	if m == nil {
		m = map[uuid.UUID]*account{}
		p.accounts[partition] = m
	}
	a := m[org]
	if a == nil {
		a = &account{}
		m[org] = a
	}
	return a
}

// Balance is the organisation's balance as this processor sees it.
func (p *Processor) Balance(partition int32, org uuid.UUID) int64 {
	return p.acct(partition, org).balance
}

func (p *Processor) Forget(_ string, partition int32) {
	delete(p.accounts, partition)
	// Pending debits of a forgotten partition are in the log (committed) or
	// were aborted; either way the rebuild accounts for them.
	delete(p.pending, partition)
	delete(p.processed, partition)
	delete(p.scheduled, partition)
	delete(p.suppressed, partition)
}

// snapshotState is a partition's state as kafkalog snapshots it.
type snapshotState struct {
	Balances map[uuid.UUID]int64 `json:"balances"`
	// PendingDebits are debits already subtracted from Balances whose
	// records lie after the snapshot's offset; folding them must not
	// subtract them again.
	PendingDebits []uuid.UUID `json:"pending_debits,omitempty"`
	// Processed are the campaigns processed within ProcessedWindow.
	Processed map[uuid.UUID]time.Time `json:"processed,omitempty"`
	// Scheduled are the accepted campaigns waiting for their send_at.
	Scheduled map[uuid.UUID]Scheduled `json:"scheduled,omitempty"`
	// Suppressed are the organisations' suppression lists.
	Suppressed map[uuid.UUID][]string `json:"suppressed,omitempty"`
}

// Snapshot is the state of a shard, for the loop to store beside the
// offsets it covers.
func (p *Processor) Snapshot(_ string, partition int32) (json.RawMessage, error) {
	s := snapshotState{Balances: make(map[uuid.UUID]int64, len(p.accounts[partition]))}
	for org, a := range p.accounts[partition] {
		s.Balances[org] = a.balance
	}
	for id := range p.pending[partition] {
		s.PendingDebits = append(s.PendingDebits, id)
	}
	horizon := p.Now().Add(-ProcessedWindow)
	s.Processed = make(map[uuid.UUID]time.Time, len(p.processed[partition]))
	for id, at := range p.processed[partition] {
		if at.Before(horizon) {
			delete(p.processed[partition], id) // snapshots are periodic: the set stays bounded
			continue
		}
		s.Processed[id] = at
	}
	s.Scheduled = p.scheduled[partition]
	s.Suppressed = map[uuid.UUID][]string{}
	for org, list := range p.suppressed[partition] {
		for n := range list {
			s.Suppressed[org] = append(s.Suppressed[org], n)
		}
	}
	return json.Marshal(s)
}

// Restore replaces a shard's state with a snapshot's.
func (p *Processor) Restore(_ string, partition int32, state json.RawMessage) error {
	var s snapshotState
	if err := json.Unmarshal(state, &s); err != nil {
		return err
	}
	accts := make(map[uuid.UUID]*account, len(s.Balances))
	for org, b := range s.Balances {
		accts[org] = &account{balance: b}
	}
	p.accounts[partition] = accts
	pend := make(map[uuid.UUID]bool, len(s.PendingDebits))
	for _, id := range s.PendingDebits {
		pend[id] = true
	}
	p.pending[partition] = pend
	p.processed[partition] = map[uuid.UUID]time.Time{}
	for id, at := range s.Processed {
		p.markProcessed(partition, id, at)
	}
	p.scheduled[partition] = map[uuid.UUID]Scheduled{}
	for _, sc := range s.Scheduled {
		p.schedule(partition, sc.Accepted, sc.SendAt)
	}
	p.suppressed[partition] = map[uuid.UUID]map[string]bool{}
	for org, list := range s.Suppressed {
		for _, n := range list {
			p.suppress(partition, org, n, true)
		}
	}
	return nil
}

func (p *Processor) Fold(m events.Message) {
	e, partition := m.Event, m.At.Shard
	switch e.Type {
	case events.CampaignProcessed:
		p.markProcessed(partition, e.CampaignID, e.OccurredAt)
		delete(p.scheduled[partition], e.CampaignID)
		return
	case events.CampaignScheduled:
		// Folded from the processor's own record, which follows the
		// campaign's CampaignAccepted: the accepted event is what it needs
		// to process the campaign later, so it was kept from there.
		return
	case events.CampaignAccepted:
		if c, ok := e.Payload().(events.CampaignAcceptedV1); ok && c.SendAt != nil {
			if _, done := p.processed[partition][e.CampaignID]; !done {
				p.schedule(partition, e, *c.SendAt)
			}
		}
		return
	case events.CampaignCancelled:
		delete(p.scheduled[partition], e.CampaignID)
		return
	}
	if p.applySuppression(partition, e) {
		return
	}
	p.applyFunds(partition, e)
}

// applyFunds folds balance-changing events; it reports whether e was one.
func (p *Processor) applyFunds(partition int32, e events.Envelope) bool {
	switch f := e.Payload().(type) {
	case events.FundsCreditedV1:
		p.acct(partition, e.OrgID).balance += f.Amount
	case events.FundsRefundedV1:
		p.acct(partition, e.OrgID).balance += f.Amount
	case events.FundsDebitedV1:
		if p.pending[partition][e.ID] {
			delete(p.pending[partition], e.ID)
			return true
		}
		p.acct(partition, e.OrgID).balance -= f.Amount
	default:
		return false
	}
	return true
}

// Handle processes accepted campaigns (or schedules them), releases and
// cancels scheduled ones, and turns stop and start keywords into
// suppressions; it returns the events and deliveries that produces.
func (p *Processor) Handle(ctx context.Context, in []events.Message) ([]events.Message, error) {
	var outs []events.Message
	emit := func(m events.Message) { outs = append(outs, m) }
	for _, m := range in {
		e, partition := m.Event, m.At.Shard
		if p.applyFunds(partition, e) || p.applySuppression(partition, e) {
			continue
		}
		switch e.Type {
		case events.InboundMessageReceived:
			if err := p.inbound(partition, e, emit); err != nil {
				return nil, err
			}
			continue
		case events.CampaignReleased:
			if err := p.release(partition, e.CampaignID, emit); err != nil {
				return nil, err
			}
			continue
		case events.CampaignCancelled:
			if err := p.cancel(partition, e, emit); err != nil {
				return nil, err
			}
			continue
		case events.CampaignAccepted:
		default:
			continue
		}
		if _, done := p.processed[partition][e.CampaignID]; done {
			p.Log.Warn("skipping a campaign accepted again", "campaign_id", e.CampaignID, "event_id", e.ID, "offset", m.At.Offset)
			continue
		}
		c, ok := e.Payload().(events.CampaignAcceptedV1)
		if !ok {
			continue
		}
		if c.SendAt != nil && c.SendAt.After(p.Now()) {
			if _, held := p.scheduled[partition][e.CampaignID]; held {
				continue
			}
			env, err := events.New(events.DerivedID(e.ID, events.CampaignScheduled, 0), e.OrgID, e.CampaignID,
				events.CampaignScheduledV1{SendAt: c.SendAt.UTC()}, p.Now(), e.TraceID, e.ID, source)
			if err != nil {
				return nil, err
			}
			emit(events.OnOrgStream(env))
			p.schedule(partition, e, *c.SendAt)
			continue
		}
		if err := p.process(partition, e, c, emit); err != nil {
			return nil, err
		}
		p.markProcessed(partition, e.CampaignID, p.Now())
	}
	return outs, nil
}

// release processes a scheduled campaign whose send_at has come. A release
// of a campaign that is not waiting (processed already, cancelled, or
// released twice) does nothing.
func (p *Processor) release(partition int32, campaign uuid.UUID, emit func(events.Message)) error {
	sc, ok := p.scheduled[partition][campaign]
	if !ok {
		return nil
	}
	var c events.CampaignAcceptedV1
	if err := sc.Accepted.Decode(&c); err != nil {
		delete(p.scheduled[partition], campaign)
		p.Log.Error("dropping an undecodable scheduled campaign", "campaign_id", campaign, "err", err)
		return nil
	}
	if err := p.process(partition, sc.Accepted, c, emit); err != nil {
		return err
	}
	delete(p.scheduled[partition], campaign)
	p.markProcessed(partition, campaign, p.Now())
	return nil
}

// cancel drops a scheduled campaign (nothing was debited, nothing is
// sent), or passes the cancellation of a processed one on to its message
// stream, where its unsent messages are cancelled and refunded.
func (p *Processor) cancel(partition int32, e events.Envelope, emit func(events.Message)) error {
	if _, ok := p.scheduled[partition][e.CampaignID]; ok {
		delete(p.scheduled[partition], e.CampaignID)
		return nil
	}
	if _, done := p.processed[partition][e.CampaignID]; !done {
		return nil
	}
	fwd := e
	fwd.ID = events.DerivedID(e.ID, events.CampaignCancelled, 1)
	fwd.CausationID = e.ID
	fwd.Source = source
	emit(events.OnMessageStream(fwd))
	return nil
}

func (p *Processor) process(partition int32, acc events.Envelope, c events.CampaignAcceptedV1, emit func(events.Message)) error {
	now := p.Now()
	org, cid := acc.OrgID, acc.CampaignID
	out := func(t events.Type, pl events.Payload) (events.Envelope, error) {
		env, err := events.New(events.DerivedID(acc.ID, t, 0), org, cid, pl, now, acc.TraceID, acc.ID, source)
		if err != nil {
			return env, err
		}
		emit(events.OnOrgStream(env))
		return env, nil
	}
	list := p.suppressed[partition][org]
	planned := plan.MakeExcept(cid, c, p.Rules, func(n string) bool { return list[n] })
	if _, err := out(events.CampaignProcessed, planned.Processed); err != nil {
		return err
	}
	a := p.acct(partition, org)
	if failed, ok := campaign.Fund(planned.Processed, a.balance, c.IsMessage()); !ok {
		_, err := out(events.CampaignFailed, failed)
		return err
	}
	cost := planned.Processed.Cost
	a.balance -= cost
	debit, err := out(events.FundsDebited, events.FundsDebitedV1{Amount: cost, Currency: planned.Processed.Currency, BalanceAfter: a.balance})
	if err != nil {
		return err
	}
	if p.pending[partition] == nil {
		p.pending[partition] = map[uuid.UUID]bool{}
	}
	p.pending[partition][debit.ID] = true
	total := len(planned.Messages)
	for _, m := range planned.Messages {
		d := events.Delivery{
			MessageID: m.MessageID, CampaignID: cid, OrgID: org, Index: m.Index, To: m.E164,
			Sender: c.SenderName, Content: c.Content, Segments: planned.Processed.SegmentsPerMessage,
			Cost: m.Cost, Currency: planned.Processed.Currency, Provider: m.Provider,
			CampaignTotal: total, TraceID: acc.TraceID, CausationID: acc.ID, Priority: c.IsMessage(),
		}
		emit(events.ToDeliver(d))
	}
	_, err = out(events.MessagesEnqueued, events.MessagesEnqueuedV1{Total: total, ByProvider: planned.Processed.ByProvider})
	return err
}

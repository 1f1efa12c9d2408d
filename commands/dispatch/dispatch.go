// Package dispatch hands queued messages to SMS providers and records each
// outcome as an event.
//
// A message is handed to a provider at most once by this side. Before any
// provider call, the batch's records are claimed durably (Intents); a
// message whose record was claimed already was handed over by an earlier
// attempt whose outcome never committed (a crash, an aborted transaction,
// a rebalance), so the provider is asked what became of it (Lookup, by our
// message id) instead of being sent it again. The same reconciliation
// follows a call whose outcome is unknown (a timeout, a dropped
// connection). The at-least-once boundary is therefore one provider call
// wide: only a message the provider has no record of is sent again, and
// that call carries our message id as its idempotency reference, so a first
// call that was still in flight when the provider was asked is collapsed
// into one by the provider.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
)

const source = "dispatcher"

// Message is what a provider needs to send one SMS. ID is our idempotency
// reference: a provider that sees the same ID twice sends once.
type Message struct {
	ID uuid.UUID
	// CampaignID, OrgID and Index say whose message it is, for providers
	// that must map their own references back to it (delivery receipts).
	CampaignID uuid.UUID
	OrgID      uuid.UUID
	Index      int
	To         string
	Sender     string
	Content    string
	Segments   int
}

// Receipt is the provider's acknowledgement of a submission.
type Receipt struct{ ProviderRef string }

// Error is a provider refusal. Permanent errors fail the message at once;
// others are retried. Any other error from Send (a timeout, a broken
// connection) leaves it unknown whether the provider took the message.
type Error struct {
	Code      string
	Message   string
	Permanent bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// State is what a provider knows of a message.
type State int

const (
	// Unknown: the provider has no record of the message; it never
	// reached the provider, or the provider refused it transiently.
	Unknown State = iota
	// Accepted: the provider took the message; ProviderRef names it.
	Accepted
	// Rejected: the provider refused the message for good.
	Rejected
)

// Status is a provider's answer to Lookup.
type Status struct {
	State       State
	ProviderRef string
	Code        string
	Message     string
}

// Provider is an SMS operator or aggregator.
type Provider interface {
	Send(ctx context.Context, m Message) (Receipt, error)
	// Lookup asks what became of a message submitted with our id.
	Lookup(ctx context.Context, id uuid.UUID) (Status, error)
}

// Intents records which deliveries of a queue have been handed to its
// provider, as a mark per partition: the queue is read in offset order and a
// batch that is read again comes back at the same offsets.
type Intents interface {
	// Claim durably records, before any of them is handed over, that the
	// deliveries of the queue's shard below offset end are about to be,
	// and returns the mark it found: those below it were claimed before.
	// The shard is named by its log and number (events.Position).
	Claim(ctx context.Context, log string, shard int32, end int64) (claimed int64, err error)
}

// Retry bounds the attempts for transient failures. The whole budget runs
// inside the batch's transaction, so it must stay well below the log's
// transaction timeout (40 s by default).
type Retry struct {
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// DefaultRetry makes 5 attempts with at most 3.75 s of waiting in all.
var DefaultRetry = Retry{MaxAttempts: 5, BaseDelay: 250 * time.Millisecond, MaxDelay: 2 * time.Second}

// DefaultCallTimeout bounds one provider call.
const DefaultCallTimeout = 10 * time.Second

// batchSeconds is how much work at the rate limit one transaction takes.
const batchSeconds = 5

// NoClaims records no intents: a message handed over before a crash, an
// aborted transaction or a rebalance is handed over again. Only for tests
// of a single process, which choose it explicitly.
type NoClaims struct{}

// Claim claims nothing and reports nothing claimed before.
func (NoClaims) Claim(context.Context, string, int32, int64) (int64, error) { return 0, nil }

// DefaultConcurrency is how many provider calls a dispatcher makes at once
// when its Config does not say.
const DefaultConcurrency = 1

// Config configures a Dispatcher. New applies the defaults and validates
// it; a running dispatcher never changes it.
type Config struct {
	// Provider is called for every delivery. Required.
	Provider Provider
	// Name is the provider's name, in logs and in the Budget's shares.
	// Default: "".
	Name string
	// Retry bounds the attempts for transient failures. Default:
	// DefaultRetry (when MaxAttempts is 0).
	Retry Retry
	// Concurrency is how many provider calls a batch makes at once.
	// Default: DefaultConcurrency.
	Concurrency int
	// Log receives the retries of provider calls. Default: a logger that
	// discards.
	Log *slog.Logger
	// Intents records the deliveries handed over, so that a restart asks
	// the provider instead of handing them over again. Required: NoClaims
	// for tests of a single process.
	Intents Intents
	// Limit is the provider's throughput in submissions per second across
	// all dispatchers of the provider (0: unlimited). Each dispatcher
	// takes the share of it that its share of the queue's partitions is
	// (see Share). Default: 0.
	Limit float64
	// CallTimeout bounds one provider call. Default: DefaultCallTimeout.
	CallTimeout time.Duration
	// Budget, when set, replaces Limit: the provider's limit shared with
	// the provider's other loop in this process (campaign queue and
	// priority queue), priority calls first. See Budget. Default: nil (the
	// dispatcher keeps its own share of Limit).
	Budget *Budget
	// Priority marks the loop over the provider's priority queue (single
	// messages): its calls take the budget before any campaign call.
	// Default: false.
	Priority bool
	// Acked is told of every message the provider acknowledged and how
	// long after its acceptance (from the UUIDv7 campaign id, which for a
	// single message is its own id). Default: nothing is told.
	Acked func(priority bool, sinceAccepted time.Duration)
	// Controls says which campaigns are paused or cancelled; their
	// messages are held back or cancelled instead of handed over.
	// Default: NoControls (nothing is ever held back).
	Controls Controls
	// ControlTTL bounds how stale Controls' answer may be.
	// Default: DefaultControlTTL.
	ControlTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.Retry.MaxAttempts == 0 {
		c.Retry = DefaultRetry
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.Acked == nil {
		c.Acked = func(bool, time.Duration) {}
	}
	if c.Controls == nil {
		c.Controls = NoControls{}
	}
	if c.ControlTTL == 0 {
		c.ControlTTL = DefaultControlTTL
	}
}

// Validate reports a config no dispatcher can run with.
func (c Config) Validate() error {
	switch {
	case c.Provider == nil:
		return fmt.Errorf("dispatcher %s: no provider", c.Name)
	case c.Intents == nil:
		return fmt.Errorf("dispatcher %s: no intents (NoClaims records none)", c.Name)
	case c.Retry.MaxAttempts < 0 || c.Retry.BaseDelay < 0 || c.Retry.MaxDelay < 0:
		return fmt.Errorf("dispatcher %s: negative retry %+v", c.Name, c.Retry)
	case c.Concurrency < 0:
		return fmt.Errorf("dispatcher %s: negative concurrency %d", c.Name, c.Concurrency)
	case c.Limit < 0:
		return fmt.Errorf("dispatcher %s: negative limit %v", c.Name, c.Limit)
	case c.CallTimeout < 0:
		return fmt.Errorf("dispatcher %s: negative call timeout %s", c.Name, c.CallTimeout)
	case c.ControlTTL < 0:
		return fmt.Errorf("dispatcher %s: negative control ttl %s", c.Name, c.ControlTTL)
	}
	return nil
}

// New applies cfg's defaults, validates it and returns the dispatcher.
func New(cfg Config) (*Dispatcher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{cfg: cfg}
	if _, none := cfg.Controls.(NoControls); !none {
		d.gate = newGate(cfg.Controls, cfg.ControlTTL)
	}
	return d, nil
}

// Config is the dispatcher's config, defaults applied.
func (d *Dispatcher) Config() Config { return d.cfg }

// Dispatcher is the stage over one provider's queue: deliveries in, their
// outcome events out. It keeps no
// state that a fold could rebuild: what must survive it lives in Intents
// and at the provider.
type Dispatcher struct {
	cfg Config
	// gate answers whether a campaign is paused or cancelled; nil with
	// NoControls, whose campaigns never are.
	gate *gate

	limMu   sync.Mutex
	limiter *rate.Limiter
	share   float64
}

func (d *Dispatcher) Fold(events.Message)  {}
func (d *Dispatcher) Forget(string, int32) {}

// Share sizes the dispatcher by its share of the queue (the loop calls it
// after every change of assignment). Group members own disjoint sets of
// partitions (a partition is revoked from one member before it is
// assigned to another), so the members' shares never add up to more than
// the whole limit.
func (d *Dispatcher) Share(owned, total int) {
	if d.cfg.Budget != nil {
		d.cfg.Budget.Share(d.loopName(), owned, total)
		return
	}
	d.limMu.Lock()
	defer d.limMu.Unlock()
	d.share = 0
	if total > 0 {
		d.share = float64(owned) / float64(total)
	}
	if d.cfg.Limit <= 0 {
		return
	}
	r := d.cfg.Limit * d.share
	// A burst of a tenth of a second's worth keeps the instantaneous rate
	// close to the limit; never less than one or nothing could pass.
	burst := max(1, int(r/10))
	if d.limiter == nil {
		d.limiter = rate.NewLimiter(rate.Limit(r), burst)
		return
	}
	d.limiter.SetLimit(rate.Limit(r))
	d.limiter.SetBurst(burst)
}

// MaxBatch bounds the deliveries the loop hands over at once: about batchSeconds of work at the
// current share of the limit.
func (d *Dispatcher) MaxBatch() int {
	if d.cfg.Budget != nil {
		if n := d.cfg.Budget.MaxBatch(batchSeconds); n > 0 && !d.cfg.Priority {
			return n
		}
		return d.cfg.Concurrency * 16
	}
	d.limMu.Lock()
	defer d.limMu.Unlock()
	if d.cfg.Limit <= 0 {
		return d.cfg.Concurrency * 16
	}
	return max(1, int(d.cfg.Limit*d.share*batchSeconds))
}

// Limited reports whether the provider has a throughput limit.
func (d *Dispatcher) Limited() bool {
	if d.cfg.Budget != nil {
		return d.cfg.Budget.Limit > 0
	}
	return d.cfg.Limit > 0
}

// loopName tells the budget which of the provider's loops reports a share.
func (d *Dispatcher) loopName() string {
	if d.cfg.Priority {
		return d.cfg.Name + "/priority"
	}
	return d.cfg.Name
}

func (d *Dispatcher) wait(ctx context.Context) error {
	if d.cfg.Budget != nil {
		return d.cfg.Budget.Wait(ctx, d.cfg.Priority)
	}
	if d.cfg.Limit <= 0 {
		return nil
	}
	d.limMu.Lock()
	l := d.limiter
	d.limMu.Unlock()
	if l == nil {
		return errors.New("dispatch: no partitions assigned, no throughput share")
	}
	return l.Wait(ctx)
}

// Handle sends a batch concurrently and emits the outcomes in queue order.
// Any error aborts the batch's transaction: its messages come back, and the
// intents recorded here make sure none is handed over a second time.
func (d *Dispatcher) Handle(ctx context.Context, in []events.Message) ([]events.Message, error) {
	claimed, err := d.claim(ctx, in)
	if err != nil {
		return nil, err
	}
	dls := make([]events.Delivery, 0, len(in))
	already := make([]bool, 0, len(in))
	seen := make(map[uuid.UUID]bool, len(in))
	for _, m := range in {
		dl := *m.Delivery
		if seen[dl.MessageID] {
			continue
		}
		seen[dl.MessageID] = true
		dls = append(dls, dl)
		already = append(already, m.At.Offset < claimed[shardOf{m.At.Log, m.At.Shard}])
	}
	if len(dls) == 0 {
		return nil, nil
	}
	if g := d.gate; g != nil {
		ids := make([]uuid.UUID, 0, 4)
		for _, dl := range dls {
			if !slices.Contains(ids, dl.CampaignID) {
				ids = append(ids, dl.CampaignID)
			}
		}
		if err := g.prefetch(ctx, ids); err != nil {
			return nil, err
		}
	}
	outs := make([]events.Message, len(dls))
	errs := make([]error, len(dls))
	// A fixed set of workers per batch rather than a goroutine per
	// message: each new goroutine grew its stack again for the provider
	// call, which was a measurable share of the CPU with a fast provider.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(d.cfg.Concurrency, len(dls)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(dls); i = int(next.Add(1) - 1) {
				outs[i], errs[i] = d.deliver(ctx, dls[i], already[i])
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		// Stopping: one reason, not one per message.
		return nil, ctx.Err()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return outs, nil
}

// shardOf names one shard of a queue.
type shardOf struct {
	log   string
	shard int32
}

// claim claims the batch's deliveries, per shard (a batch holds one
// shard's deliveries, but nothing here depends on it), and returns the
// marks found.
func (d *Dispatcher) claim(ctx context.Context, in []events.Message) (map[shardOf]int64, error) {
	ends := map[shardOf]int64{}
	for _, m := range in {
		p := shardOf{m.At.Log, m.At.Shard}
		ends[p] = max(ends[p], m.At.Offset+1)
	}
	claimed := make(map[shardOf]int64, len(ends))
	for p, end := range ends {
		c, err := d.cfg.Intents.Claim(ctx, p.log, p.shard, end)
		if err != nil {
			return nil, err
		}
		claimed[p] = c
	}
	return claimed, nil
}

// deliver hands one message over, or finds out what became of an earlier
// handover when reconcile is set, and returns its outcome event.
func (d *Dispatcher) deliver(ctx context.Context, dl events.Delivery, reconcile bool) (events.Message, error) {
	rt := d.cfg.Retry
	m := Message{ID: dl.MessageID, CampaignID: dl.CampaignID, OrgID: dl.OrgID, Index: dl.Index,
		To: dl.To, Sender: dl.Sender, Content: dl.Content, Segments: dl.Segments}
	outcome := events.MessageOutcome{
		MessageID: dl.MessageID, Index: dl.Index, Provider: dl.Provider,
		CampaignTotal: dl.CampaignTotal, Cost: dl.Cost, Currency: dl.Currency,
	}
	var payload events.Payload
	sent := func(ref string) { outcome.ProviderRef = ref; payload = events.MessageSentV1{MessageOutcome: outcome} }
	failed := func(code, msg string) {
		outcome.ErrorCode, outcome.Error = code, msg
		payload = events.MessageFailedV1{MessageOutcome: outcome}
	}
	held := func() { payload = events.MessageHeldV1{Delivery: dl} }
	cancelled := func() { outcome.Attempts--; payload = events.MessageCancelledV1{MessageOutcome: outcome} }
	for attempt := 1; payload == nil; attempt++ {
		// A reconciled message counts the earlier handover as its attempt.
		outcome.Attempts = attempt
		if reconcile {
			st, err := d.lookup(ctx, m.ID)
			if err != nil {
				return events.Message{}, err
			}
			switch st.State {
			case Accepted:
				sent(st.ProviderRef)
				continue
			case Rejected:
				failed(st.Code, st.Code+": "+st.Message)
				continue
			}
			reconcile = false
		}
		if err := d.wait(ctx); err != nil {
			return events.Message{}, err
		}
		// Checked after the wait for the rate limit, right before the
		// call, so a message that waited is not sent on a stale answer.
		switch st, err := d.control(ctx, dl.CampaignID); {
		case err != nil:
			return events.Message{}, err
		case st == campaign.StatusPaused:
			held()
			continue
		case st == campaign.StatusCancelled:
			cancelled()
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		rc, err := d.cfg.Provider.Send(cctx, m)
		cancel()
		if err == nil {
			sent(rc.ProviderRef)
			if sec, nsec := dl.CampaignID.Time().UnixTime(); dl.CampaignID.Version() == 7 {
				d.cfg.Acked(d.cfg.Priority, time.Since(time.Unix(sec, nsec)))
			}
			break
		}
		if ctx.Err() != nil {
			return events.Message{}, ctx.Err()
		}
		var pe *Error
		refused := errors.As(err, &pe)
		switch {
		case refused && (pe.Permanent || attempt >= rt.MaxAttempts):
			failed(pe.Code, err.Error())
			continue
		case attempt >= rt.MaxAttempts:
			// The last call's fate is unknown: only the provider can
			// say whether the message is failed or was taken.
			if st, lerr := d.lookup(ctx, m.ID); lerr == nil && st.State == Accepted {
				sent(st.ProviderRef)
			} else {
				failed("PROVIDER_UNAVAILABLE", err.Error())
			}
			continue
		}
		// Not a definite refusal: the provider may have taken the message
		// before the call failed, so ask before sending again.
		reconcile = !refused
		d.cfg.Log.Debug("provider call failed; retrying", "provider", d.cfg.Name, "message_id", m.ID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return events.Message{}, ctx.Err()
		case <-time.After(backoff(rt, attempt)):
		}
	}
	// The outcome's id derives from the message, so a redelivered message
	// can be recognised downstream.
	// A message held and put back comes again with Requeued counted up, so
	// each of its holds has an id of its own.
	env, err := events.New(events.DerivedID(dl.MessageID, payload.EventType(), dl.Requeued), dl.OrgID, dl.CampaignID,
		payload, time.Now(), dl.TraceID, dl.MessageID, source)
	if err != nil {
		return events.Message{}, err
	}
	return events.OnMessageStream(env), nil
}

// control is the campaign's pause or cancel status ("" when it runs).
func (d *Dispatcher) control(ctx context.Context, c uuid.UUID) (campaign.Status, error) {
	g := d.gate
	if g == nil {
		return "", nil
	}
	return g.status(ctx, c)
}

// lookup asks the provider about a message, retrying transient errors.
// When the provider cannot answer, the batch aborts and comes back later:
// sending blindly could hand the message over twice.
func (d *Dispatcher) lookup(ctx context.Context, id uuid.UUID) (Status, error) {
	rt := d.cfg.Retry
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		st, err := d.cfg.Provider.Lookup(cctx, id)
		cancel()
		if err == nil || attempt >= rt.MaxAttempts || ctx.Err() != nil {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(backoff(rt, attempt)):
		}
	}
}

// backoff is exponential with full jitter, so retries from many messages
// that failed together do not arrive together.
func backoff(r Retry, attempt int) time.Duration {
	d := r.BaseDelay << (attempt - 1)
	if d > r.MaxDelay || d <= 0 {
		d = r.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

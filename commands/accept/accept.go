// Package accept takes a validated campaign request and records it as
// CampaignAccepted, the only step that happens before the 202: it checks
// the sender, the funds and the Idempotency-Key, then appends.
package accept

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/plan"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/sms"
)

// ErrUnknownSender means the remitter is not an approved sender ID of the
// caller's organisation.
var ErrUnknownSender = problem.InvalidFields(map[string]string{
	"remitter_id": "Sender ID not found or not approved for this organisation."})

// ErrIdempotencyKeyReused means the key was used with a different request
// within its lifetime.
var ErrIdempotencyKeyReused = problem.New(problem.CodeIdempotencyKeyReused,
	"This Idempotency-Key was already used with a different request body.")

// InsufficientFundsError means the organisation's balance, less the
// estimates of campaigns accepted but not yet debited, is strictly below
// the campaign's estimate.
type InsufficientFundsError struct {
	Available, Required int64
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("insufficient funds: %d available, %d required", e.Available, e.Required)
}

// Problem is the refusal, in the API reference's words.
func (e *InsufficientFundsError) Problem() *problem.Error {
	return problem.New(problem.CodeInsufficientFunds,
		"Your account balance is too low to process this batch request. Please top up your credits.").Because(e)
}

// InProgressError means another request with the same Idempotency-Key is
// still being recorded; RetryAfter is when its claim lapses at the latest.
type InProgressError struct{ RetryAfter time.Duration }

func (e *InProgressError) Error() string { return "a request with this idempotency key is in progress" }

// Problem is the refusal: retry once the claim has lapsed.
func (e *InProgressError) Problem() *problem.Error {
	return problem.New(problem.CodeIdempotencyInProgress,
		"A request with this Idempotency-Key is still being processed. Retry later.").WithRetryAfter(e.RetryAfter).Because(e)
}

// Senders resolves approved sender IDs.
type Senders interface {
	ApprovedSender(ctx context.Context, org, remitter uuid.UUID) (string, error)
}

// Appender appends events to their streams durably.
type Appender interface {
	Append(ctx context.Context, msgs ...events.Message) error
}

// Ledger is the ledger read model (projections/ledger).
type Ledger interface {
	// Funds is the balance and the estimates of accepted campaigns not yet
	// debited or failed.
	Funds(ctx context.Context, org uuid.UUID) (balance, pending int64, err error)
	// Accepted reports whether the campaign's CampaignAccepted has been
	// projected.
	Accepted(ctx context.Context, org, campaign uuid.UUID) (bool, error)
	// Position is the next offset of the organisation stream's partition
	// that the ledger will apply: every record before it is reflected.
	Position(ctx context.Context, partition int32) (int64, error)
}

// Stream reads the organisation stream where the read model may lag.
type Stream interface {
	// End returns the partition that holds org's events and its end
	// offset now.
	End(ctx context.Context, org uuid.UUID) (partition int32, end int64, err error)
	// Scan calls fn for each committed event in [from, to) of partition,
	// with its offset.
	Scan(ctx context.Context, partition int32, from, to int64, fn func(offset int64, e events.Envelope)) error
}

// Caller is who is submitting.
type Caller struct {
	OrgID    uuid.UUID
	APIKeyID uuid.UUID
	TraceID  string
}

// Result is the outcome of an accepted request.
type Result struct {
	CampaignID uuid.UUID
	// Replayed is set when an earlier request with the same
	// Idempotency-Key had already recorded the campaign.
	Replayed bool
}

// Timings of the funds check and of Idempotency-Key claims. New gives a
// zero field its default.
type Timings struct {
	// Lease is how long a claim is held before another request may take it
	// over. It must exceed AppendTimeout with room to spare: a taker
	// assumes that an expired holder can no longer append.
	// Default: DefaultLease.
	Lease time.Duration
	// AppendTimeout bounds one append to the log.
	// Default: DefaultAppendTimeout.
	AppendTimeout time.Duration
	// WaitInProgress is how long a request waits for another one holding
	// the same key before answering "in progress".
	// Default: DefaultWaitInProgress.
	WaitInProgress time.Duration
	// CatchUp is how long a funds check that fails waits for a lagging
	// ledger before trusting it. Default: DefaultCatchUp.
	CatchUp time.Duration
	// TTL is how long a key is remembered. Default: DefaultTTL.
	TTL time.Duration
}

// Defaults of Timings.
const (
	DefaultLease          = 30 * time.Second
	DefaultAppendTimeout  = 10 * time.Second
	DefaultWaitInProgress = 10 * time.Second
	DefaultCatchUp        = 2 * time.Second
	DefaultTTL            = 24 * time.Hour
)

func (t *Timings) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.Lease, DefaultLease)
	def(&t.AppendTimeout, DefaultAppendTimeout)
	def(&t.WaitInProgress, DefaultWaitInProgress)
	def(&t.CatchUp, DefaultCatchUp)
	def(&t.TTL, DefaultTTL)
}

// Validate reports timings a service cannot keep its promises with.
func (t Timings) Validate() error {
	if t.Lease < 0 || t.AppendTimeout < 0 || t.WaitInProgress < 0 || t.CatchUp < 0 || t.TTL < 0 {
		return fmt.Errorf("accept: negative timings %+v", t)
	}
	if t.Lease <= t.AppendTimeout {
		return fmt.Errorf("accept: claim lease %s must exceed the append timeout %s", t.Lease, t.AppendTimeout)
	}
	return nil
}

// Config configures a Service. New applies the defaults and validates it.
type Config struct {
	// Senders says which sender IDs an organisation may use. Required.
	Senders Senders
	// Log is where accepted campaigns are appended. Required.
	Log Appender
	// Rules price the estimates and route single messages.
	// Default: the zero rules (nothing routed, nothing priced).
	Rules plan.Rules
	// Now stamps the events. Default: time.Now.
	Now func() time.Time
	// Ledger and Stream back the funds check; without a Ledger there is
	// none and the processor alone refuses campaigns it cannot pay for.
	// Default: nil (no funds check in the API).
	Ledger Ledger
	Stream Stream
	// Claims backs Idempotency-Key; without it the header is refused.
	// Default: nil (the header is refused with ErrIdempotencyUnsupported).
	Claims Claims
	// Timings of the funds check and of Idempotency-Key claims; each
	// field has its own default.
	Timings Timings
	// Logger receives warnings. Default: slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Timings.setDefaults()
}

// Validate reports a config no service can accept campaigns with.
func (c Config) Validate() error {
	switch {
	case c.Senders == nil:
		return errors.New("accept: no senders")
	case c.Log == nil:
		return errors.New("accept: no log to append to")
	}
	return c.Timings.Validate()
}

// Service accepts campaigns. Build it with New.
type Service struct {
	Config
}

// New applies cfg's defaults, validates it and returns the service.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{Config: cfg}, nil
}

// ErrIdempotencyUnsupported means an Idempotency-Key arrived at a service
// configured without a claim store.
var ErrIdempotencyUnsupported = errors.New("idempotency keys are not configured")

// Accept records the campaign and returns its id. Once it returns nil the
// campaign is in the log and will be processed. idemKey is the
// Idempotency-Key header, empty when absent.
func (s *Service) Accept(ctx context.Context, c Caller, req campaign.Request, idemKey string) (Result, error) {
	sender, err := s.Senders.ApprovedSender(ctx, c.OrgID, req.RemitterID)
	if err != nil {
		return Result{}, ErrUnknownSender
	}
	est := Estimate(req, s.Rules.Prices)
	acc := events.CampaignAcceptedV1{
		Name: req.Name, Content: req.Content, ChannelType: req.ChannelType, CountryAlpha2: req.CountryAlpha2,
		RemitterID: req.RemitterID, SenderName: sender, Recipients: req.Recipients, APIKeyID: c.APIKeyID,
		EstimatedCost: est, Currency: pricing.Currency, SendAt: req.SendAt,
	}
	if idemKey == "" {
		if err := s.checkFunds(ctx, c.OrgID, est); err != nil {
			return Result{}, err
		}
		id := uuid.Must(uuid.NewV7())
		if err := s.append(ctx, c, id, uuid.Must(uuid.NewV7()), acc); err != nil {
			return Result{}, err
		}
		return Result{CampaignID: id}, nil
	}
	if s.Claims == nil {
		return Result{}, ErrIdempotencyUnsupported
	}
	return s.acceptOnce(ctx, c, idemKey, RequestHash(req), est, acc)
}

// append writes CampaignAccepted with a bounded wait. It runs detached
// from the request's context: a client that hangs up must not abandon an
// append halfway, leaving its outcome unknown to us.
func (s *Service) append(ctx context.Context, c Caller, campaignID, eventID uuid.UUID, acc events.CampaignAcceptedV1) error {
	env, err := events.New(eventID, c.OrgID, campaignID, acc, s.Now(), c.TraceID, uuid.Nil, "api")
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Timings.AppendTimeout)
	defer cancel()
	return s.Log.Append(actx, events.OnOrgStream(env))
}

// checkFunds refuses a campaign whose estimate exceeds what the ledger
// says the organisation can spend. The ledger is a projection and may lag
// the log: a missing credit or refund would refuse a campaign that can be
// paid, so a failing check waits (briefly) for the ledger to reach the
// log's current end before it trusts the answer. A ledger that stays
// behind lets the campaign through: the processor, which folds the log
// itself, is the authoritative guard and fails the campaign with
// BILLING_INSUFFICIENT_FUNDS. The converse lag (a debit or an acceptance
// not yet projected) can only let a campaign through, with the same
// backstop.
func (s *Service) checkFunds(ctx context.Context, org uuid.UUID, est int64) error {
	if s.Ledger == nil {
		return nil
	}
	bal, pend, err := s.Ledger.Funds(ctx, org)
	if err != nil {
		return err
	}
	if bal-pend >= est {
		return nil
	}
	if s.Stream == nil {
		return &InsufficientFundsError{Available: bal - pend, Required: est}
	}
	t := s.Timings
	cctx, cancel := context.WithTimeout(ctx, t.CatchUp)
	defer cancel()
	p, end, err := s.Stream.End(cctx, org)
	if err != nil {
		return err
	}
	// The ledger has caught up once it has applied the last event before
	// end; the offsets after that event hold only transaction markers,
	// which a consumer never applies. The log is read once, to find that
	// event; then only the ledger's position is polled.
	pos, err := s.Ledger.Position(cctx, p)
	if err == nil && pos < end {
		last := int64(-1)
		err = s.Stream.Scan(cctx, p, pos, end, func(off int64, _ events.Envelope) { last = off })
		for err == nil && pos <= last {
			if !sleep(cctx, 20*time.Millisecond) {
				s.Logger.Warn("ledger behind the log; leaving the funds check to the processor",
					"org_id", org, "partition", p, "end", end, "estimate", est)
				return nil
			}
			pos, err = s.Ledger.Position(cctx, p)
		}
	}
	if err != nil {
		if cctx.Err() != nil {
			s.Logger.Warn("ledger behind the log; leaving the funds check to the processor",
				"org_id", org, "partition", p, "end", end, "estimate", est, "err", err)
			return nil
		}
		return err
	}
	bal, pend, err = s.Ledger.Funds(ctx, org)
	if err != nil {
		return err
	}
	if bal-pend >= est {
		return nil
	}
	return &InsufficientFundsError{Available: bal - pend, Required: est}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Estimate prices a request without normalizing its numbers (that is the
// processor's job, off the request path), with the processor's own
// segmentation and price table: every recipient counts, at the highest
// price any route charges for the campaign's default country. For a
// campaign to that country the processor's debit cannot exceed it (invalid
// and duplicate numbers only lower it); numbers abroad may cost more, and
// the processor refuses what the balance cannot cover.
func Estimate(req campaign.Request, prices pricing.Table) int64 {
	seg := sms.Analyze(req.Content)
	return int64(len(req.Recipients)) * int64(seg.Segments) * prices.MaxUnitPrice(req.CountryAlpha2)
}

// RequestHash identifies a request for Idempotency-Key: the validated
// fields, not the bytes, so whitespace, member order and ignored unknown
// members do not make a retry "different".
func RequestHash(req campaign.Request) []byte {
	b, _ := json.Marshal(struct {
		Name, Content, ChannelType, CountryAlpha2 string
		RemitterID                                uuid.UUID
		Recipients                                []string
		SendAt                                    *time.Time `json:",omitempty"`
	}{req.Name, req.Content, req.ChannelType, req.CountryAlpha2, req.RemitterID, req.Recipients, req.SendAt})
	h := sha256.Sum256(b)
	return h[:]
}

package accept

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/plan"
)

// memClaims is Claims in memory, with the store's clock.
type memClaims struct {
	mu       sync.Mutex
	rows     map[string]*Claim
	released int
}

func (m *memClaims) Claim(_ context.Context, c Claim, lease, _ time.Duration) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if r, ok := m.rows[c.Key]; ok {
		cp := *r
		cp.Now, cp.Mine = now, false
		return cp, nil
	}
	c.State, c.Attempt, c.LeaseUntil, c.Now, c.Mine = ClaimPending, 1, now.Add(lease), now, true
	cp := c
	m.rows[c.Key] = &cp
	return c, nil
}

func (m *memClaims) TakeOver(_ context.Context, _ uuid.UUID, key string, attempt int, lease time.Duration) (Claim, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[key]
	if !ok || r.Attempt != attempt || r.State != ClaimPending || r.LeaseUntil.After(time.Now()) {
		return Claim{}, false, nil
	}
	r.Attempt++
	r.LeaseUntil = time.Now().Add(lease)
	cp := *r
	cp.Mine = true
	return cp, true, nil
}

func (m *memClaims) Complete(_ context.Context, _ uuid.UUID, key string, attempt int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.rows[key]; ok && r.Attempt == attempt {
		r.State = ClaimDone
		return nil
	}
	return errors.New("lost")
}

func (m *memClaims) Release(_ context.Context, _ uuid.UUID, key string, attempt int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.rows[key]; ok && r.Attempt == attempt && r.State == ClaimPending {
		delete(m.rows, key)
		m.released++
	}
	return nil
}

type okSenders struct{}

func (okSenders) ApprovedSender(context.Context, uuid.UUID, uuid.UUID) (string, error) {
	return "ZIETT", nil
}

type fixedLedger struct{ balance, pending int64 }

func (l fixedLedger) Funds(context.Context, uuid.UUID) (int64, int64, error) {
	return l.balance, l.pending, nil
}
func (fixedLedger) Accepted(context.Context, uuid.UUID, uuid.UUID) (bool, error) { return false, nil }
func (fixedLedger) Position(context.Context, int32) (int64, error)               { return 0, nil }

type memLog struct {
	mu   sync.Mutex
	recs []events.Message
	fail error
}

func (l *memLog) Append(_ context.Context, recs ...events.Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.recs = append(l.recs, recs...)
	return nil
}

func request(t *testing.T) campaign.Request {
	t.Helper()
	r, errs := campaign.BatchInput{Name: campaign.Text("n"), RemitterID: campaign.Text("019b4b56-e704-7c30-83a0-527df63c3e00"),
		ChannelType: campaign.Text("SMS"), CountryAlpha2: campaign.Text("AO"), Content: campaign.Text("Hello"),
		Recipients: campaign.Texts([]string{"+244990000001", "+244990000002", "990000003"})}.Check()
	if errs != nil {
		t.Fatal(errs)
	}
	return r
}

func service(l Ledger, c Claims, log *memLog) *Service {
	s, err := New(Config{Senders: okSenders{}, Log: log, Rules: plan.DefaultRules(), Ledger: l, Claims: c,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Timings: Timings{WaitInProgress: 100 * time.Millisecond}})
	if err != nil {
		panic(err) // a fixed, valid config
	}
	return s
}

// A request that finds the key held by a live attempt waits, then says
// "in progress" with the time the claim has left; nothing is appended.
func TestHeldKeyIsInProgress(t *testing.T) {
	claims := &memClaims{rows: map[string]*Claim{}}
	log := &memLog{}
	s := service(fixedLedger{balance: 1 << 40}, claims, log)
	req := request(t)
	claims.Claim(t.Context(), Claim{Key: "k", RequestHash: RequestHash(req), CampaignID: uuid.New()}, time.Minute, time.Hour) //nolint:errcheck
	_, err := s.Accept(t.Context(), Caller{}, req, "k")
	var busy *InProgressError
	if !errors.As(err, &busy) || busy.RetryAfter < 50*time.Second {
		t.Fatalf("got %v, want InProgressError with about a minute to wait", err)
	}
	if len(log.recs) != 0 {
		t.Fatal("appended while another attempt held the key")
	}
}

// A refusal for funds releases the claim, so the key can be used again
// once the balance is topped up; a failed append keeps it, because the
// record may have landed.
func TestClaimReleasedOnRefusalKeptOnAppendFailure(t *testing.T) {
	claims := &memClaims{rows: map[string]*Claim{}}
	log := &memLog{}
	req := request(t)
	s := service(fixedLedger{balance: 0}, claims, log)
	var funds *InsufficientFundsError
	if _, err := s.Accept(t.Context(), Caller{}, req, "k"); !errors.As(err, &funds) || funds.Required != Estimate(req, s.Rules.Prices) {
		t.Fatalf("got %v, want InsufficientFundsError", err)
	}
	if claims.released != 1 || len(claims.rows) != 0 {
		t.Fatalf("claim not released after 402: %d released, %d rows", claims.released, len(claims.rows))
	}
	s.Ledger = fixedLedger{balance: 1 << 40}
	log.fail = errors.New("broker unreachable")
	if _, err := s.Accept(t.Context(), Caller{}, req, "k"); err == nil {
		t.Fatal("append failure not reported")
	}
	if len(claims.rows) != 1 || claims.rows["k"].State != ClaimPending {
		t.Fatal("claim dropped after an append that may have landed")
	}
}

// Strictly below is refused; equal is enough; pending estimates count.
func TestFundsBoundary(t *testing.T) {
	req := request(t)
	est := Estimate(req, plan.DefaultRules().Prices)
	for _, tc := range []struct {
		balance, pending int64
		ok               bool
	}{
		{est, 0, true}, {est - 1, 0, false}, {est + 10, 10, true}, {est + 10, 11, false},
	} {
		s := service(fixedLedger{tc.balance, tc.pending}, nil, &memLog{})
		_, err := s.Accept(context.Background(), Caller{}, req, "")
		if (err == nil) != tc.ok {
			t.Errorf("balance %d pending %d estimate %d: err %v", tc.balance, tc.pending, est, err)
		}
	}
}

// The estimate is the processor's own pricing: for numbers of the default
// country it is never below what the processor debits.
func TestEstimateBoundsProcessorCost(t *testing.T) {
	rules := plan.DefaultRules()
	for _, content := range []string{"Hi", strings.Repeat("a", 161), "Olá 🎉", strings.Repeat("ç", 500)} {
		var recips []string
		for i := range 40 {
			recips = append(recips, fmt.Sprintf("+2449%d%07d", 1+i%5, i))
		}
		req := campaign.Request{Content: content, CountryAlpha2: "AO", Recipients: recips}
		p := plan.Make(uuid.New(), events.CampaignAcceptedV1{Content: content, CountryAlpha2: "AO", Recipients: recips}, rules)
		if est := Estimate(req, rules.Prices); est < p.Processed.Cost || p.Processed.Cost == 0 {
			t.Errorf("content %.10q: estimate %d, processor's cost %d", content, est, p.Processed.Cost)
		}
	}
}

package contract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/httpapi/contract"
	"ziett.co/campaigns/adapters/postgres"
	acceptcmd "ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/plan"
)

// The handler-level fuzz target runs the real decoder, validator and
// command service behind the real HTTP handler, with in-memory stand-ins
// for the key directory, the ledger and the log, so it needs no broker or
// database and runs thousands of inputs a second.

var fuzzRemitter = uuid.MustParse("019b4b56-e704-7c30-83a0-527df63c3e00")

const fuzzKey = "zk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, key string) (postgres.Principal, error) {
	if key != fuzzKey {
		return postgres.Principal{}, postgres.ErrNotFound
	}
	return postgres.Principal{KeyID: uuid.Max, OrgID: uuid.Max, Scopes: []string{apikey.ScopeCampaignSend}, RatePerMinute: 10}, nil
}

type fakeLimiter struct{}

func (fakeLimiter) Take(_ context.Context, _ uuid.UUID, limit int, window time.Duration) (postgres.Window, error) {
	now := time.Now()
	return postgres.Window{Limit: limit, Hits: 1, Reset: now.Add(window), Now: now, Allowed: true}, nil
}

type fakeSenders struct{}

func (fakeSenders) ApprovedSender(_ context.Context, _, remitter uuid.UUID) (string, error) {
	if remitter != fuzzRemitter {
		return "", postgres.ErrNotFound
	}
	return "ZIETT", nil
}

// fakeLedger holds enough for most inputs, so both 202 and 402 occur.
type fakeLedger struct{}

func (fakeLedger) Funds(context.Context, uuid.UUID) (int64, int64, error) { return 2_000_000, 0, nil }
func (fakeLedger) Accepted(context.Context, uuid.UUID, uuid.UUID) (bool, error) {
	return false, nil
}
func (fakeLedger) Position(context.Context, int32) (int64, error) { return 0, nil }

type countingLog struct{ n atomic.Int64 }

func (c *countingLog) Append(_ context.Context, recs ...events.Message) error {
	c.n.Add(int64(len(recs)))
	return nil
}

func fuzzHandler() (http.Handler, *countingLog) {
	log := &countingLog{}
	acc, err := acceptcmd.New(acceptcmd.Config{Senders: fakeSenders{}, Log: log, Rules: plan.DefaultRules(), Ledger: fakeLedger{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err) // a fixed, valid config
	}
	s := &httpapi.Server{
		Auth:    fakeAuth{},
		Limiter: fakeLimiter{},
		Accept:  acc,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return s.Handler(), log
}

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// FuzzBatch: whatever the body and Content-Type, the endpoint never
// panics, answers 202 or a 4xx in the documented envelope, and appends
// exactly when it answers 202.
func FuzzBatch(f *testing.F) {
	seed := `{"name":"Black Friday Promo - Luanda","remitter_id":"019b4b56-e704-7c30-83a0-527df63c3e00","channel_type":"SMS","country_alpha2":"AO","content":"Flash Sale! Enjoy 50% off on all items this weekend only.","recipients":["+244990000001","+244990000002","990000003"]}`
	f.Add("application/json", []byte(seed))
	f.Add("application/json; charset=utf-8", []byte(seed))
	f.Add("text/plain", []byte(seed))
	f.Add("application/json", []byte(`{}`))
	f.Add("application/json", []byte(`[]`))
	f.Add("application/json", []byte(`{"name":`))
	f.Add("application/json", []byte(``))
	f.Add("application/json", []byte(`{"name":1,"content":null,"channel_type":"sms","remitter_id":"550e8400-e29b-41d4-a716-446655440000","country_alpha2":"XX","recipients":[1,null,"abc"]}`))

	h, log := fuzzHandler()
	sp := contract.Load(f)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "http://api.test/c/v1/campaigns/batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-API-KEY", fuzzKey)
		rec := httptest.NewRecorder()
		before := log.n.Load()
		h.ServeHTTP(rec, req)
		appended := log.n.Load() - before

		status := rec.Code
		if status != http.StatusAccepted && (status < 400 || status > 499) {
			t.Fatalf("status %d for Content-Type %q body %q: %s", status, contentType, body, rec.Body.Bytes())
		}
		if (status == http.StatusAccepted) != (appended == 1) || appended > 1 {
			t.Fatalf("status %d but %d records appended", status, appended)
		}
		if err := sp.Check(req, status, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
		if status != http.StatusAccepted {
			var env httpapi.Envelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				t.Fatalf("%d body is not the envelope: %v", status, err)
			}
			if env.Status != status || env.Code == "" || env.Message == "" || !traceIDPattern.MatchString(env.TraceID) {
				t.Fatalf("bad envelope for %d: %+v", status, env)
			}
		}
	})
}

package process

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/pricing"
)

func TestMakePlan(t *testing.T) {
	r := DefaultRules()
	r.Prices.ByProvider["global"] = pricingRates(7000)
	cid := uuid.New()
	c := events.CampaignAcceptedV1{
		CountryAlpha2: "AO",
		Content:       strings.Repeat("Olá ", 20), // 80 UTF-16 units: two UCS-2 segments
		Recipients: []string{
			"+244 923 456 789", // unitel
			"923456789",        // the same number, national format
			"991234567",        // movicel, national format
			"+351 912 345 678", // Portugal, priced as such
			"+1 415 555 0123",  // elsewhere: the aggregator, its own price
			"not a number",
			"+244 123 456 789", // unassigned range
			"+1 800 555 0199",  // freephone
		},
	}
	p := MakePlan(cid, c, r)
	pr := p.Processed
	if pr.Encoding != "UCS2" || pr.SegmentsPerMessage != 2 || strings.Join(pr.UCS2Chars, "") != "á" {
		t.Fatalf("segmentation = %s/%d %q, want UCS2/2 [á]", pr.Encoding, pr.SegmentsPerMessage, pr.UCS2Chars)
	}
	if pr.Recipients != (events.RecipientCounts{Submitted: 8, Valid: 4, Invalid: 3, Duplicates: 1}) {
		t.Fatalf("counts = %+v", pr.Recipients)
	}
	want := []struct {
		provider string
		country  string
		unit     int64
		reason   string
	}{
		{"unitel", "AO", 500, ""},
		{"", "AO", 0, phone.ReasonDuplicate},
		{"movicel", "AO", 500, ""},
		{"vodafone-pt", "PT", 2500, ""},
		{"global", "US", 7000, ""},
		{"", "", 0, phone.ReasonUnparseable},
		{"", "", 0, phone.ReasonInvalid},
		{"", "", 0, phone.ReasonNotSMSCapable},
	}
	var total int64
	for i, w := range want {
		it := pr.Items[i]
		if it.Index != i || it.Provider != w.provider || it.Country != w.country || it.UnitPrice != w.unit || it.Reason != w.reason {
			t.Errorf("item %d = %+v, want %+v", i, it, w)
		}
		if w.reason == "" {
			if it.Cost != 2*w.unit || it.MessageID != events.MessageID(cid, i) {
				t.Errorf("item %d: cost %d, id %s; want %d and the derived message id", i, it.Cost, it.MessageID, 2*w.unit)
			}
			total += it.Cost
		} else if it.Cost != 0 || it.MessageID != uuid.Nil {
			t.Errorf("item %d without a message is billed or has an id: %+v", i, it)
		}
	}
	if pr.Cost != total || pr.TotalSegments != 8 || len(p.Messages) != 4 {
		t.Fatalf("cost %d (want %d), segments %d, messages %d", pr.Cost, total, pr.TotalSegments, len(p.Messages))
	}
	if pr.ByProvider["unitel"] != 1 || pr.ByProvider["movicel"] != 1 || pr.ByProvider["vodafone-pt"] != 1 || pr.ByProvider["global"] != 1 {
		t.Fatalf("by provider = %v", pr.ByProvider)
	}
}

// A provider's link: SMPP with its defaults applied, or the simulator;
// a routed provider without either is reported as unlinked.
func TestParseRulesLinks(t *testing.T) {
	src := strings.Replace(string(DefaultRulesJSON()), `"unitel": {"max_per_second": 500}`,
		`"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc.unitel.ao:2775", "system_id": "ziett", "password_env": "UNITEL_PW", "source_ton": 5}}`, 1)
	src = strings.Replace(src, `"movicel": {"max_per_second": 300}`, `"movicel": {"max_per_second": 300, "simulated": {"latency": "5ms"}}`, 1)
	r, err := ParseRules([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := r.Links["unitel"].SMPP
	if s == nil || s.Binds != 1 || s.Window != 10 || time.Duration(s.EnquireLink) != 30*time.Second || s.LongMessages != "udh" ||
		s.BindMode != BindTransceiver || s.TLS || s.SourceTON == nil || *s.SourceTON != 5 || s.SourceNPI != nil || s.PasswordEnv != "UNITEL_PW" {
		t.Fatalf("unitel's smpp link with defaults applied: %+v", s)
	}
	if m := r.Links["movicel"].Simulated; m == nil || time.Duration(m.Latency) != 5*time.Millisecond {
		t.Fatalf("movicel's simulated link: %+v", m)
	}
	if got := r.Unlinked(); slices.Contains(got, "unitel") || slices.Contains(got, "movicel") || !slices.Contains(got, "africell") {
		t.Fatalf("unlinked = %v", got)
	}
}

func TestParseRules(t *testing.T) {
	r := DefaultRules()
	if r.Routes.Provider("+244923456789") != "unitel" || r.Prices.UnitPrice("AO") != 500 || r.Throughput["unitel"] <= 0 {
		t.Fatalf("shipped rules not as documented: %+v", r)
	}
	bad := []struct{ name, edit, want string }{
		{"unknown key", `"currency": "AOA",`, `"currency": "AOA", "curency": "AOA",`},
		{"other currency", `"currency": "AOA"`, `"currency": "EUR"`},
		{"bad prefix", `"+24491"`, `"24491"`},
		{"price for unrouted provider", `"providers": {}`, `"providers": {"nobody": {"default": 1}}`},
		{"free destination", `"AO": 500`, `"AO": 0`},
		{"negative throughput", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": -1}`},
		{"smpp without addr", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"system_id": "z", "password": "p"}}`},
		{"smpp addr without port", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc", "system_id": "z", "password": "p"}}`},
		{"smpp without system_id", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "password": "p"}}`},
		{"smpp with both passwords", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "password_env": "P"}}`},
		{"smpp without password", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z"}}`},
		{"smpp password too long", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "123456789"}}`},
		{"smpp unknown long mode", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "long_messages": "split"}}`},
		{"smpp bad enquire_link", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "enquire_link": "soon"}}`},
		{"smpp window zero or less", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "window": -1}}`},
		{"smpp source_ton out of range", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "source_ton": 300}}`},
		{"smpp unknown key", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p", "windows": 5}}`},
		{"both link kinds", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "simulated": {}, "smpp": {"addr": "smsc:2775", "system_id": "z", "password": "p"}}`},
		{"simulated failure above one", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "simulated": {"permanent_failure": 1.5}}`},
	}
	for _, b := range bad {
		src := string(DefaultRulesJSON())
		if !strings.Contains(src, b.edit) {
			t.Fatalf("%s: shipped rules no longer contain %s", b.name, b.edit)
		}
		if _, err := ParseRules([]byte(strings.Replace(src, b.edit, b.want, 1))); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

var (
	org   = uuid.MustParse("019b4b56-e704-7c30-83a0-527df63c3e00")
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// orgLog names the log in positions and snapshots; the processor keys its
// state by shard only.
const orgLog = "org-events"

// at places an event on the organisation stream at offset.
func at(offset int64, e events.Envelope) *events.Message {
	m := events.OnOrgStream(e)
	m.At = events.Position{Log: orgLog, Offset: offset}
	return &m
}

func rec(t *testing.T, offset int64, cid uuid.UUID, p events.Payload) *events.Message {
	t.Helper()
	env, err := events.New(uuid.Must(uuid.NewV7()), org, cid, p, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	return at(offset, env)
}

func handle(t *testing.T, p *Processor, msgs ...*events.Message) []events.Envelope {
	t.Helper()
	in := make([]events.Message, len(msgs))
	for i, m := range msgs {
		in[i] = *m
	}
	outs, err := p.Handle(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Envelope
	for _, o := range outs {
		if o.Stream == events.OrgStream {
			out = append(out, o.Event)
		}
	}
	return out
}

func accepted(recips ...string) events.CampaignAcceptedV1 {
	return events.CampaignAcceptedV1{CountryAlpha2: "AO", Content: "Hi", Recipients: recips, SenderName: "Ziett"}
}

func types(es []events.Envelope) string {
	var s []string
	for _, e := range es {
		s = append(s, string(e.Type))
	}
	return strings.Join(s, ",")
}

func TestProcessorDebitsOnlyWhatTheBalanceCovers(t *testing.T) {
	p := NewProcessor(DefaultRules(), quiet)
	handle(t, p, rec(t, 0, uuid.Nil, events.FundsCreditedV1{Amount: 1200, Currency: "AOA"}))

	out := handle(t, p, rec(t, 1, uuid.New(), accepted("+244923456789", "+244923456780")))
	if types(out) != "CampaignProcessed,FundsDebited,MessagesEnqueued" {
		t.Fatalf("outputs = %s", types(out))
	}
	if p.Balance(0, org) != 200 {
		t.Fatalf("balance %d after a 1000 debit from 1200", p.Balance(0, org))
	}
	// Reading its own debit back must not subtract it twice.
	handle(t, p, at(2, out[1]))
	if p.Balance(0, org) != 200 {
		t.Fatalf("balance %d after reading the debit back", p.Balance(0, org))
	}

	out = handle(t, p, rec(t, 3, uuid.New(), accepted("+244923456789")))
	var f events.CampaignFailedV1
	if types(out) != "CampaignProcessed,CampaignFailed" || out[1].Decode(&f) != nil || f.Code != CodeInsufficientFunds {
		t.Fatalf("outputs = %s %+v, want a BILLING_INSUFFICIENT_FUNDS failure", types(out), f)
	}
	out = handle(t, p, rec(t, 4, uuid.New(), accepted("garbage", "+244123")))
	if types(out) != "CampaignProcessed,CampaignFailed" || out[1].Decode(&f) != nil || f.Code != CodeNoValidRecipients {
		t.Fatalf("outputs = %s %+v, want a NO_VALID_RECIPIENTS failure", types(out), f)
	}
	handle(t, p, rec(t, 5, uuid.New(), events.FundsRefundedV1{Amount: 500, Currency: "AOA", Messages: 1}))
	if p.Balance(0, org) != 700 {
		t.Fatalf("balance %d after a 500 refund, want 700", p.Balance(0, org))
	}
}

// A processor restored from a snapshot taken while a debit was in flight
// ends with the same balance as the one that took it.
func TestProcessorSnapshotKeepsPendingDebits(t *testing.T) {
	a := NewProcessor(DefaultRules(), quiet)
	handle(t, a, rec(t, 0, uuid.Nil, events.FundsCreditedV1{Amount: 5000, Currency: "AOA"}))
	out := handle(t, a, rec(t, 1, uuid.New(), accepted("+244923456789")))
	snap, err := a.Snapshot(orgLog, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := NewProcessor(DefaultRules(), quiet)
	if err := b.Restore(orgLog, 0, snap); err != nil {
		t.Fatal(err)
	}
	debit := at(2, out[1])
	a.Fold(*debit)
	b.Fold(*debit)
	if a.Balance(0, org) != 4500 || b.Balance(0, org) != 4500 {
		t.Fatalf("balances %d (original) and %d (restored), want 4500", a.Balance(0, org), b.Balance(0, org))
	}
}

func pricingRates(def int64) pricing.Rates { return pricing.Rates{Default: def} }

// A campaign accepted twice (the same CampaignAccepted appended again) is
// processed and debited once: by the processor that processed it, by one
// that rebuilt its state from the log, and by one restored from a snapshot.
func TestProcessorProcessesACampaignOnce(t *testing.T) {
	a := NewProcessor(DefaultRules(), quiet)
	credit := rec(t, 0, uuid.Nil, events.FundsCreditedV1{Amount: 5000, Currency: "AOA"})
	handle(t, a, credit)
	acc := rec(t, 1, uuid.New(), accepted("+244923456789"))
	out := handle(t, a, acc)
	if types(out) != "CampaignProcessed,FundsDebited,MessagesEnqueued" {
		t.Fatalf("first CampaignAccepted: outputs %s", types(out))
	}
	again := *acc
	again.At.Offset = 5
	if out := handle(t, a, &again); len(out) != 0 {
		t.Fatalf("same CampaignAccepted again: outputs %s, want none", types(out))
	}

	// A processor that takes the partition over folds the log up to the
	// duplicate: the credit, the first acceptance and its outputs.
	b := NewProcessor(DefaultRules(), quiet)
	b.Fold(*credit)
	b.Fold(*acc)
	for i, e := range out {
		b.Fold(*at(int64(2+i), e))
	}
	if out := handle(t, b, &again); len(out) != 0 || b.Balance(0, org) != 4500 {
		t.Fatalf("after a rebuild: outputs %s, balance %d; want none and 4500", types(out), b.Balance(0, org))
	}

	snap, err := a.Snapshot(orgLog, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := NewProcessor(DefaultRules(), quiet)
	if err := c.Restore(orgLog, 0, snap); err != nil {
		t.Fatal(err)
	}
	if out := handle(t, c, &again); len(out) != 0 {
		t.Fatalf("after a restore: outputs %s, want none", types(out))
	}

	// Past the window the memory of it is dropped from snapshots.
	a.Now = func() time.Time { return time.Now().Add(ProcessedWindow + time.Hour) }
	if snap, err = a.Snapshot(orgLog, 0); err != nil {
		t.Fatal(err)
	}
	var s snapshotState
	if err := json.Unmarshal(snap, &s); err != nil || len(s.Processed) != 0 {
		t.Fatalf("snapshot after the window keeps %d processed campaigns (%v)", len(s.Processed), err)
	}
}

// The shipped routing table sends Angolan and Portuguese mobile ranges to
// their operators and everything else through the aggregator.
func TestShippedRoutes(t *testing.T) {
	routes := DefaultRules().Routes
	for n, want := range map[string]string{
		"+244923456789": "unitel", "+244991234567": "movicel", "+244951234567": "africell",
		"+351912345678": "vodafone-pt", "+351961234567": "meo", "+33612345678": "global",
	} {
		if got := routes.Provider(n); got != want {
			t.Errorf("Provider(%s) = %s, want %s", n, got, want)
		}
	}
}

// A single message is processed like a campaign of one: debited by the
// same single writer, with the message id the API returned (its campaign
// id), on its provider's priority queue; one the balance cannot pay for
// fails without a debit or a delivery.
func TestProcessorSendsASingleMessageOnThePriorityQueue(t *testing.T) {
	p := NewProcessor(DefaultRules(), quiet)
	handle(t, p, rec(t, 0, uuid.Nil, events.FundsCreditedV1{Amount: 700, Currency: "AOA"}))
	msg := func(recipient string) events.CampaignAcceptedV1 {
		a := accepted(recipient)
		a.Kind, a.Reference = events.KindMessage, "otp-1"
		return a
	}
	id := uuid.Must(uuid.NewV7())
	var deliveries []events.Delivery
	var out []events.Envelope
	outs, err := p.Handle(context.Background(), []events.Message{*rec(t, 1, id, msg("+244923456789"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		switch o.Stream {
		case events.OrgStream:
			out = append(out, o.Event)
		case events.Deliveries:
			deliveries = append(deliveries, o.Delivery)
		default:
			t.Fatalf("output on the %s stream", o.Stream)
		}
	}
	if types(out) != "CampaignProcessed,FundsDebited,MessagesEnqueued" || p.Balance(0, org) != 200 {
		t.Fatalf("outputs %s, balance %d; want one 500 debit from 700", types(out), p.Balance(0, org))
	}
	if len(deliveries) != 1 || deliveries[0].Provider != "unitel" {
		t.Fatalf("deliveries %v, want one to unitel", deliveries)
	}
	d := deliveries[0]
	if d.MessageID != id || d.CampaignID != id || !d.Priority || d.CampaignTotal != 1 {
		t.Fatalf("delivery %+v, want message id = campaign id %s, priority, one message", d, id)
	}

	out = handle(t, p, rec(t, 2, uuid.Must(uuid.NewV7()), msg("+244923456780")))
	var f events.CampaignFailedV1
	if types(out) != "CampaignProcessed,CampaignFailed" || out[1].Decode(&f) != nil || f.Code != CodeInsufficientFunds ||
		!strings.Contains(f.Message, "message") || p.Balance(0, org) != 200 {
		t.Fatalf("outputs %s %+v, balance %d; want a BILLING_INSUFFICIENT_FUNDS failure and no debit", types(out), f, p.Balance(0, org))
	}
}

package process

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/plan"
	"ziett.co/campaigns/domain/problem"
)

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
	p := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
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
	if types(out) != "CampaignProcessed,CampaignFailed" || out[1].Decode(&f) != nil || f.Code != string(problem.CodeInsufficientFunds) {
		t.Fatalf("outputs = %s %+v, want a BILLING_INSUFFICIENT_FUNDS failure", types(out), f)
	}
	out = handle(t, p, rec(t, 4, uuid.New(), accepted("garbage", "+244123")))
	if types(out) != "CampaignProcessed,CampaignFailed" || out[1].Decode(&f) != nil || f.Code != campaign.CodeNoValidRecipients {
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
	a := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
	handle(t, a, rec(t, 0, uuid.Nil, events.FundsCreditedV1{Amount: 5000, Currency: "AOA"}))
	out := handle(t, a, rec(t, 1, uuid.New(), accepted("+244923456789")))
	snap, err := a.Snapshot(orgLog, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
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

// A campaign accepted twice (the same CampaignAccepted appended again) is
// processed and debited once: by the processor that processed it, by one
// that rebuilt its state from the log, and by one restored from a snapshot.
func TestProcessorProcessesACampaignOnce(t *testing.T) {
	a := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
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
	b := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
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
	c := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
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

// A single message is processed like a campaign of one: debited by the
// same single writer, with the message id the API returned (its campaign
// id), on its provider's priority queue; one the balance cannot pay for
// fails without a debit or a delivery.
func TestProcessorSendsASingleMessageOnThePriorityQueue(t *testing.T) {
	p := NewProcessor(Config{Rules: plan.DefaultRules(), Log: quiet})
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
			deliveries = append(deliveries, *o.Delivery)
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
	if types(out) != "CampaignProcessed,CampaignFailed" || out[1].Decode(&f) != nil || f.Code != string(problem.CodeInsufficientFunds) ||
		!strings.Contains(f.Message, "message") || p.Balance(0, org) != 200 {
		t.Fatalf("outputs %s %+v, balance %d; want a BILLING_INSUFFICIENT_FUNDS failure and no debit", types(out), f, p.Balance(0, org))
	}
}

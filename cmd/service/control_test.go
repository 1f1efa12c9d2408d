package service_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/commands/dispatch"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/plan"
)

// controlRate is the unitel limit these tests run with: slow enough that a
// campaign of controlRecipients is still sending when it is paused or
// cancelled.
const (
	controlRate       = 100
	controlRecipients = 600
)

func slowUnitel(cfg *service.Config) {
	r := plan.DefaultRules()
	tp := map[string]float64{}
	for k, v := range r.Throughput {
		tp[k] = v
	}
	tp["unitel"] = controlRate
	r.Throughput = tp
	cfg.Rules = &r
}

func unitelRequest(e *servicetest.Env, name string, n int) map[string]any {
	req := e.SeedRequest()
	req["name"] = name
	rs := make([]string, n)
	for i := range rs {
		rs[i] = fmt.Sprintf("+24492%07d", i)
	}
	req["recipients"] = rs
	return req
}

// sentTo counts the campaign's messages the provider accepted.
func sentTo(p *smsprovider.Simulated, campaign uuid.UUID, n int) (sent int) {
	calls := p.AcceptedCalls()
	for i := range n {
		if calls[events.MessageID(campaign, i)] > 0 {
			sent++
		}
	}
	return sent
}

func messagesOf(v map[string]any) map[string]float64 {
	out := map[string]float64{}
	for k, x := range v["messages"].(map[string]any) {
		if f, ok := x.(float64); ok {
			out[k] = f
		}
	}
	return out
}

func waitSent(t *testing.T, e *servicetest.Env, id uuid.UUID, atLeast int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if sentTo(e.Stack.Providers["unitel"], id, controlRecipients) >= atLeast {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("campaign %s: fewer than %d messages sent within 30s", id, atLeast)
}

// inFlightBound is how many messages of a campaign a dispatcher may still
// hand over after a pause or cancel was acknowledged: those it checked
// within the control TTL before, and the calls already started.
const inFlightBound = controlRate*dispatch.DefaultControlTTL/time.Second + 64

func TestPauseHoldsMessagesAndResumeSendsTheRestOnce(t *testing.T) {
	e := servicetest.Start(t, slowUnitel)
	prov := e.Stack.Providers["unitel"]
	id := e.Submit(unitelRequest(e, "paused", controlRecipients))
	waitSent(t, e, id, 50)
	e.WaitStatus(id, 10*time.Second, "SENDING")

	r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/pause", e.Demo.APIKey, nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "PAUSED" {
		t.Fatalf("pause: %d %s", r.Status, r.Body)
	}
	atAck := sentTo(prov, id, controlRecipients)
	// Nothing more may go out while paused beyond the in-flight bound.
	// Observing an absence takes a while: a second is ten times the
	// control TTL.
	time.Sleep(time.Second)
	paused := sentTo(prov, id, controlRecipients)
	if paused-atAck > int(inFlightBound) {
		t.Fatalf("%d messages were handed over after the pause was acknowledged (bound %d)", paused-atAck, inFlightBound)
	}
	if paused >= controlRecipients {
		t.Fatalf("every message was sent although the campaign was paused")
	}
	v := e.WaitStatus(id, 5*time.Second, "PAUSED")
	if v["paused_at"] == nil {
		t.Fatalf("paused campaign without paused_at: %v", v)
	}
	if again := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/pause", e.Demo.APIKey, nil); again.Status != http.StatusOK {
		t.Fatalf("pausing again: %d %s", again.Status, again.Body)
	}
	time.Sleep(300 * time.Millisecond)
	if still := sentTo(prov, id, controlRecipients); still != paused {
		t.Fatalf("sent %d more while paused", still-paused)
	}

	r = e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/resume", e.Demo.APIKey, nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "SENDING" {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	v = e.WaitStatus(id, 60*time.Second, "COMPLETED")
	if m := messagesOf(v); m["sent"] != controlRecipients || m["queued"] != 0 || m["cancelled"] != 0 {
		t.Fatalf("completed after resume with messages %v", m)
	}
	for i := range controlRecipients {
		if c := prov.AcceptedCalls()[events.MessageID(id, i)]; c != 1 {
			t.Fatalf("message %d handed over %d times", i, c)
		}
	}
	sent := e.Events(kafkalog.MessageEvents, func(ev events.Envelope) bool {
		return ev.CampaignID == id && ev.Type == events.MessageSent
	})
	if len(sent) != controlRecipients {
		t.Fatalf("%d MessageSent events, want %d", len(sent), controlRecipients)
	}
	if r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/cancel", e.Demo.APIKey, nil); r.Status != http.StatusConflict ||
		r.JSON(t)["code"] != "CAMPAIGN_STATE_CONFLICT" {
		t.Fatalf("cancelling a completed campaign: %d %s", r.Status, r.Body)
	}
}

func TestCancelRefundsExactlyTheUnsentMessages(t *testing.T) {
	e := servicetest.Start(t, slowUnitel)
	prov := e.Stack.Providers["unitel"]
	id := e.Submit(unitelRequest(e, "cancelled", controlRecipients))
	waitSent(t, e, id, 50)
	e.WaitStatus(id, 10*time.Second, "SENDING")
	// Paused first, so that held messages are cancelled too.
	if r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/pause", e.Demo.APIKey, nil); r.Status != http.StatusOK {
		t.Fatalf("pause: %d %s", r.Status, r.Body)
	}
	time.Sleep(200 * time.Millisecond)
	r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/cancel", e.Demo.APIKey, nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "CANCELLED" {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	// The refund comes once every message is accounted for.
	var v map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		v = e.WaitStatus(id, 5*time.Second, "CANCELLED")
		m := messagesOf(v)
		if m["queued"] == 0 && v["cost"].(map[string]any)["refunded"].(float64) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancelled campaign not settled: %v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := messagesOf(v)
	sentAtProvider := sentTo(prov, id, controlRecipients)
	if int(m["sent"]) != sentAtProvider || m["sent"]+m["cancelled"] != controlRecipients || m["cancelled"] == 0 {
		t.Fatalf("messages %v, provider accepted %d", m, sentAtProvider)
	}
	cost := v["cost"].(map[string]any)
	unit := cost["debited"].(float64) / controlRecipients
	if want := m["cancelled"] * unit; cost["refunded"].(float64) != want {
		t.Fatalf("refunded %v, want %v (%v cancelled at %v)", cost["refunded"], want, m["cancelled"], unit)
	}

	// The log agrees: one outcome per message, sent exactly for those the
	// provider took, cancelled for the others, one refund of their cost.
	outcomes := map[int]events.Type{}
	var cancelledCost int64
	for _, ev := range e.Events(kafkalog.MessageEvents, func(ev events.Envelope) bool { return ev.CampaignID == id }) {
		var o events.MessageOutcome
		switch ev.Type {
		case events.MessageSent, events.MessageFailed, events.MessageCancelled:
			if err := ev.Decode(&o); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		if prev, dup := outcomes[o.Index]; dup {
			t.Fatalf("message %d has two outcomes: %s and %s", o.Index, prev, ev.Type)
		}
		outcomes[o.Index] = ev.Type
		took := prov.AcceptedCalls()[o.MessageID] > 0
		if took != (ev.Type == events.MessageSent) {
			t.Fatalf("message %d: outcome %s, provider took it: %v", o.Index, ev.Type, took)
		}
		if ev.Type == events.MessageCancelled {
			cancelledCost += o.Cost
		}
	}
	if len(outcomes) != controlRecipients {
		t.Fatalf("%d messages have an outcome, want %d", len(outcomes), controlRecipients)
	}
	refunds := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool {
		return ev.CampaignID == id && ev.Type == events.FundsRefunded
	})
	if len(refunds) != 1 {
		t.Fatalf("%d FundsRefunded events, want 1", len(refunds))
	}
	var f events.FundsRefundedV1
	if err := refunds[0].Decode(&f); err != nil || f.Amount != cancelledCost {
		t.Fatalf("refund %+v (%v), want %d", f, err, cancelledCost)
	}
	// And the ledger: credits less the debit plus the refund.
	bal := e.Do(http.MethodGet, "/c/v1/balance", e.Demo.APIKey, nil).JSON(t)
	if want := float64(servicetest.Credits) - cost["debited"].(float64) + cost["refunded"].(float64); bal["balance"] != want {
		t.Fatalf("balance %v, want %v", bal["balance"], want)
	}
	if r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/resume", e.Demo.APIKey, nil); r.Status != http.StatusConflict {
		t.Fatalf("resuming a cancelled campaign: %d %s", r.Status, r.Body)
	}
}

func TestControlOfAnotherOrganisationsCampaignIsNotFound(t *testing.T) {
	e := servicetest.Start(t)
	id := e.Submit(e.SeedRequest())
	e.WaitStatus(id, 30*time.Second, "COMPLETED")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := e.Stack.Admin.CreateDemo(ctx, servicetest.Credits, []string{"apikey:campaign:send", "apikey:campaign:read"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"pause", "resume", "cancel"} {
		if r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/"+c, other.APIKey, nil); r.Status != http.StatusNotFound {
			t.Fatalf("%s by another organisation: %d %s", c, r.Status, r.Body)
		}
	}
	if r := e.Do(http.MethodPost, "/c/v1/campaigns/"+uuid.NewString()+"/pause", e.Demo.APIKey, nil); r.Status != http.StatusNotFound {
		t.Fatalf("pause of an unknown campaign: %d %s", r.Status, r.Body)
	}
}

// A scheduled campaign waits, keeps waiting across a restart of every
// component, starts at its send_at and not before, and is debited then.
func TestScheduledCampaignSurvivesARestartAndStartsOnTime(t *testing.T) {
	e := servicetest.Start(t)
	e.WaitStatus(e.Submit(e.SeedRequest()), 30*time.Second, "COMPLETED") // the ledger has caught up
	sendAt := time.Now().Add(4 * time.Second).UTC().Truncate(time.Millisecond)
	req := e.SeedRequest()
	req["send_at"] = sendAt.Format(time.RFC3339Nano)
	id := e.Submit(req)
	v := e.WaitStatus(id, 10*time.Second, "SCHEDULED")
	if got, _ := time.Parse(time.RFC3339Nano, v["send_at"].(string)); !got.Equal(sendAt) {
		t.Fatalf("send_at %v, want %v", v["send_at"], sendAt)
	}
	if d := v["cost"].(map[string]any)["debited"].(float64); d != 0 {
		t.Fatalf("a scheduled campaign was debited %v", d)
	}

	// Restart everything on the same broker and database.
	if err := e.Stack.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := service.Start(ctx, e.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.Stack, e.BaseURL = st, "http://"+st.Addr

	v = e.WaitStatus(id, 30*time.Second, "COMPLETED")
	processed, err := time.Parse(time.RFC3339Nano, v["processed_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if processed.Before(sendAt) {
		t.Fatalf("processed at %v, before its send_at %v", processed, sendAt)
	}
	if v["cost"].(map[string]any)["debited"].(float64) == 0 || messagesOf(v)["sent"] != 3 {
		t.Fatalf("scheduled campaign completed as %v", v)
	}
	debits := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool {
		return ev.CampaignID == id && ev.Type == events.FundsDebited
	})
	if len(debits) != 1 {
		t.Fatalf("%d debits, want 1", len(debits))
	}
}

func TestCancelledScheduledCampaignIsNeverDebited(t *testing.T) {
	e := servicetest.Start(t)
	// One campaign through first: the funds check then answers at once
	// (right after start it waits for the ledger to catch up, which could
	// eat the schedule's lead).
	e.WaitStatus(e.Submit(e.SeedRequest()), 30*time.Second, "COMPLETED")
	sendAt := time.Now().Add(2 * time.Second)
	req := e.SeedRequest()
	req["send_at"] = sendAt.UTC().Format(time.RFC3339Nano)
	id := e.Submit(req)
	e.WaitStatus(id, 10*time.Second, "SCHEDULED")
	if r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/pause", e.Demo.APIKey, nil); r.Status != http.StatusConflict {
		t.Fatalf("pausing a scheduled campaign: %d %s", r.Status, r.Body)
	}
	r := e.Do(http.MethodPost, "/c/v1/campaigns/"+id.String()+"/cancel", e.Demo.APIKey, nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "CANCELLED" {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	// Past its send_at (and a scheduler tick), it is still cancelled and
	// nothing was processed.
	time.Sleep(time.Until(sendAt) + time.Second)
	e.WaitStatus(e.Submit(e.SeedRequest()), 30*time.Second, "COMPLETED")
	v := e.WaitStatus(id, time.Second, "CANCELLED")
	if v["processed_at"] != nil || v["cost"].(map[string]any)["debited"].(float64) != 0 {
		t.Fatalf("a cancelled scheduled campaign was processed: %v", v)
	}
	for _, ev := range e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool { return ev.CampaignID == id }) {
		if ev.Type == events.CampaignProcessed || ev.Type == events.FundsDebited {
			t.Fatalf("cancelled scheduled campaign has %s", ev.Type)
		}
	}
	bal := e.Do(http.MethodGet, "/c/v1/balance", e.Demo.APIKey, nil).JSON(t)
	if bal["pending_campaigns"] != float64(0) {
		t.Fatalf("balance still reserves funds for a cancelled campaign: %v", bal)
	}
}

func TestSendAtIsValidated(t *testing.T) {
	e := servicetest.Start(t)
	for _, tc := range []struct {
		name   string
		sendAt any
	}{
		{"a time in the past", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)},
		{"more than 30 days ahead", time.Now().Add(31 * 24 * time.Hour).UTC().Format(time.RFC3339)},
		{"not a date", "tomorrow morning"},
		{"a number", 1767258000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := e.SeedRequest()
			req["send_at"] = tc.sendAt
			r := e.Do(http.MethodPost, "/c/v1/campaigns/batch", e.Demo.APIKey, req)
			body := r.JSON(t)
			fields, _ := body["fields"].(map[string]any)
			if r.Status != http.StatusUnprocessableEntity || fields["send_at"] == nil {
				t.Fatalf("send_at %v: %d %s", tc.sendAt, r.Status, r.Body)
			}
		})
	}
}

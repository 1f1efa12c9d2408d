package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
)

// startSMSC runs the SMPP simulator on a loopback port for one test.
func startSMSC(t *testing.T, cfg smpp.SMSCConfig) *smpp.SMSC {
	t.Helper()
	s, err := smpp.NewSMSC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Over SMPP on TCP to the simulator, with receipts sent as soon as a part
// is accepted (before its submit_sm_resp: the link must wait for the
// part's id), every message of a two-part campaign ends in the status its
// parts' receipts decide, with exactly one receipt event each; a refusal at
// submit fails its message; and a mobile-originated message to the
// organisation's sender becomes its event.
func TestReceiptsOverSMPPEndToEnd(t *testing.T) {
	smsc := startSMSC(t, smpp.SMSCConfig{ReceiptDelay: 0, Rules: smpp.DefaultRules,
		Accounts: map[string]string{"unitel": servicetest.SMSCPassword, "movicel": servicetest.SMSCPassword, "global": servicetest.SMSCPassword,
			"africell": servicetest.SMSCPassword, "meo": servicetest.SMSCPassword, "nos": servicetest.SMSCPassword, "vodafone-pt": servicetest.SMSCPassword}})
	e := servicetest.Start(t, servicetest.LinkSMPP(smsc.Addr(), 2, 8))

	want := map[string]string{ // number → status
		"+244923000001": "DELIVERED", "+244923000002": "DELIVERED", "+244991000013": "UNDELIVERED",
		"+244923000014": "REJECTED", "+244923000015": "EXPIRED", "+351912000003": "DELIVERED",
		"+244923000019": "FAILED",
	}
	req := e.SeedRequest()
	var recips []string
	for n := range want {
		recips = append(recips, n)
	}
	req["recipients"] = recips
	// Two GSM-7 segments: every message goes as two concatenated parts.
	req["content"] = strings.Repeat("Flash Sale! 50% off. ", 9)
	id := e.Submit(req)
	c := e.WaitStatus(id, 30*time.Second, "COMPLETED", "FAILED")
	if c["status"] != "COMPLETED" {
		t.Fatalf("campaign ended %v", c["status"])
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c = e.Do("GET", "/c/v1/campaigns/"+id.String(), e.Demo.APIKey, nil).JSON(t)
		m := c["messages"].(map[string]any)
		if m["delivered"] == 3.0 && m["undelivered"] == 1.0 && m["rejected"] == 1.0 && m["expired"] == 1.0 {
			if m["sent"] != 6.0 || m["failed"] != 1.0 || m["delivery_rate"] != 0.5 {
				t.Fatalf("messages %v; want 6 sent, 1 failed, rate 0.5", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receipts not all applied: messages %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	list := e.Do("GET", "/c/v1/campaigns/"+id.String()+"/messages", e.Demo.APIKey, nil).JSON(t)["data"].([]any)
	for _, it := range list {
		m := it.(map[string]any)
		e164 := m["e164"].(string)
		if m["status"] != want[e164] {
			t.Errorf("%s: status %v, want %s", e164, m["status"], want[e164])
		}
		switch m["status"] {
		case "DELIVERED":
			if m["delivered_at"] == nil || m["error"] != nil || len(strings.Split(m["provider_ref"].(string), ",")) != 2 {
				t.Errorf("%s delivered: %v", e164, m)
			}
		case "FAILED":
			if errObj, _ := m["error"].(map[string]any); errObj == nil || errObj["code"] != "ESME_RINVDSTADR" {
				t.Errorf("%s failed with %v, want ESME_RINVDSTADR", e164, m["error"])
			}
		default:
			if m["receipt"] == nil || m["error"] == nil {
				t.Errorf("%s %v without its receipt's error: %v", e164, m["status"], m)
			}
		}
	}
	receiptEvents := map[uuid.UUID]int{}
	for _, ev := range e.Events(kafkalog.MessageEvents, func(ev events.Envelope) bool {
		return ev.CampaignID == id && (ev.Type == events.MessageDelivered || ev.Type == events.MessageUndelivered)
	}) {
		var r events.MessageReceipt
		if err := ev.Decode(&r); err != nil {
			t.Fatal(err)
		}
		receiptEvents[r.MessageID]++
		if r.Parts != 2 || len(r.ProviderRefs) != 2 {
			t.Errorf("receipt event of %s: %d parts, refs %v", r.MessageID, r.Parts, r.ProviderRefs)
		}
	}
	if len(receiptEvents) != 6 {
		t.Fatalf("receipt events for %d messages, want 6", len(receiptEvents))
	}
	for m, n := range receiptEvents {
		if n != 1 {
			t.Errorf("message %s has %d receipt events", m, n)
		}
	}
	if st := smsc.Stats(); st.Duplicates != 0 || st.Submits != 12 {
		t.Errorf("SMSC stats %+v: want 12 parts, no duplicates", st)
	}

	// A mobile-originated reply to the organisation's sender.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := smsc.SendMO(ctx, "unitel", "+244923000001", "ZIETT", "STOP"); err != nil {
		t.Fatal(err)
	}
	in := e.Events(kafkalog.OrgEvents, func(ev events.Envelope) bool { return ev.Type == events.InboundMessageReceived })
	if len(in) != 1 || in[0].OrgID != e.Demo.OrgID {
		t.Fatalf("inbound events %v", in)
	}
	var mo events.InboundMessageReceivedV1
	if err := in[0].Decode(&mo); err != nil || mo.Text != "STOP" || mo.RemitterID != e.Demo.RemitterID || mo.Provider != "unitel" {
		t.Fatalf("inbound %+v %v", mo, err)
	}

	// The new events match their published schemas.
	valid := schemaChecker(t)
	for _, ev := range append(e.Events(kafkalog.MessageEvents, nil), in...) {
		if ev.Type == events.MessageDelivered || ev.Type == events.MessageUndelivered || ev.Type == events.InboundMessageReceived {
			valid(ev)
		}
	}
}

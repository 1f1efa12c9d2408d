package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/domain/plan"
)

// `ziett reply` reaches the dev process's embedded SMSC through the data
// directory, and the SMSC delivers the reply over SMPP to the link of the
// provider that serves the number.
func TestReplyReachesTheLinkOfTheNumbersProvider(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := smpp.NewSMSC(smpp.SMSCConfig{Addr: "127.0.0.1:0", ReceiptDelay: -1, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan *smpp.Inbound, 4)
	c, err := smpp.NewClient(smpp.ClientConfig{Addr: s.Addr(), SystemID: "unitel", Password: "pw", Log: log,
		OnDeliver: func(_ context.Context, d smpp.Delivery) error {
			if d.MO != nil {
				got <- d.MO
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx) //nolint:errcheck

	rules := plan.DefaultRules()
	links := map[string]smsprovider.LinkConfig{"unitel": {SMPP: &smsprovider.SMPPLink{Addr: s.Addr(), SystemID: "unitel"}}}
	dir := t.TempDir()
	stop, err := serveReplies(ctx, dir, s, rules, links, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	t.Setenv("ZIETT_DATA_DIR", dir)

	// Until the link has bound, the SMSC has no one to deliver to.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := runReply([]string{"-from", "+244923000002", "-text", " STOP "})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reply: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case mo := <-got:
		if mo.From != "244923000002" || mo.To != "ZIETT" || mo.Text != " STOP " {
			t.Fatalf("the link got %+v", mo)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the link got no reply")
	}
	// A number no linked provider serves is refused, not lost silently.
	if err := runReply([]string{"-from", "+351912345678", "-text", "STOP"}); err == nil {
		t.Fatal("a reply from a number without a linked provider was accepted")
	}
	if err := runReply([]string{"-text", "STOP"}); err == nil {
		t.Fatal("a reply without -from was accepted")
	}
}

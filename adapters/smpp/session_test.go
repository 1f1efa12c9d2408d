package smpp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startSMSC(t *testing.T, cfg SMSCConfig) *SMSC {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	s, err := NewSMSC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runClient starts a client's Run and stops it at cleanup.
func runClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	})
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type deliveries struct {
	mu   sync.Mutex
	list []Delivery
}

func (d *deliveries) add(_ context.Context, x Delivery) error {
	d.mu.Lock()
	d.list = append(d.list, x)
	d.mu.Unlock()
	return nil
}

func (d *deliveries) receipts() map[string]*Receipt {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := map[string]*Receipt{}
	for _, x := range d.list {
		if x.Receipt != nil {
			m[x.Receipt.MessageID] = x.Receipt
		}
	}
	return m
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSubmitReceivesIDsAndReceiptsFromTheSimulator(t *testing.T) {
	var mu sync.Mutex
	var got []Message
	smsc := startSMSC(t, SMSCConfig{Accounts: map[string]string{"acme": "pw"}, Rules: DefaultRules,
		OnMessage: func(m Message) { mu.Lock(); got = append(got, m); mu.Unlock() }})
	var dl deliveries
	c := runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "acme", Password: "pw", Binds: 2, OnDeliver: dl.add})
	ctx := ctxT(t)

	ref := uuid.New()
	res, err := c.Submit(ctx, Submission{Ref: ref, Source: "ZIETT", Dest: "+244990000001", Text: "Olà {promo} €5"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != 1 || len(res.MessageIDs) != 1 || res.Encoding != "GSM7" {
		t.Fatalf("result %+v", res)
	}
	long := strings.Repeat("Ж", 140) // 140 UCS-2 units: 3 parts of 67
	res2, err := c.Submit(ctx, Submission{Ref: uuid.New(), Source: "923456789", Dest: "244990000013", Text: long})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Parts != 3 || len(res2.MessageIDs) != 3 || res2.Encoding != "UCS2" {
		t.Fatalf("long result %+v", res2)
	}
	_, err = c.Submit(ctx, Submission{Ref: uuid.New(), Source: "ZIETT", Dest: "244990000019", Text: "x"})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != ESME_RINVDSTADR || se.Temporary || se.Name != "ESME_RINVDSTADR" {
		t.Fatalf("refused destination: %v", err)
	}

	eventually(t, "4 receipts", func() bool { return len(dl.receipts()) == 4 })
	r := dl.receipts()
	if r[res.MessageIDs[0]].Stat != "DELIVRD" || r[res.MessageIDs[0]].State != StateDelivered {
		t.Errorf("receipt %+v", r[res.MessageIDs[0]])
	}
	for _, id := range res2.MessageIDs {
		if r[id].Stat != "UNDELIV" || r[id].Err != "001" || r[id].Source != "244990000013" {
			t.Errorf("receipt of part %s: %+v", id, r[id])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("SMSC saw %d messages", len(got))
	}
	for _, m := range got {
		switch m.Dest {
		case "244990000001":
			if m.Text != "Olà {promo} €5" || m.SourceTON != 5 || m.SourceNPI != 0 || m.DestTON != 1 || m.DestNPI != 1 || m.Ref != ref || m.DataCoding != 0 {
				t.Errorf("short message arrived as %+v", m)
			}
		case "244990000013":
			if m.Text != long || m.Parts != 3 || m.Concat != "udh" || m.SourceTON != 1 || m.DataCoding != 8 {
				t.Errorf("long message arrived as %+v", m)
			}
		}
	}
	eventually(t, "the SMSC to see 4 receipts acknowledged", func() bool { return smsc.Stats().ReceiptsAcked == 4 })
	if st := smsc.Stats(); st.Duplicates != 0 || st.Submits != 4 || st.Refused != 1 || smsc.PendingReceipts() != 0 {
		t.Errorf("stats %+v", st)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

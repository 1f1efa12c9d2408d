package smpp

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestThrottledSubmitsSlowDownAndAllGetThrough(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{ThrottlePerSecond: 200, ReceiptDelay: -1})
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, "throttle-test")
	if err != nil {
		t.Fatal(err)
	}
	c := runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", Binds: 2, Window: 20, ThrottleMin: 10 * time.Millisecond, Metrics: m})
	ctx := ctxT(t)
	const n = 120
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Submit(ctx, Submission{Ref: uuid.New(), Source: "Z", Dest: "244990000001", Text: "x"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := smsc.Stats()
	if st.Submits != n || st.Throttled == 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := value(m.throttled.WithLabelValues("throttle-test", "ESME_RTHROTTLED")); got != float64(st.Throttled) {
		t.Fatalf("throttle metric %v, SMSC throttled %d", got, st.Throttled)
	}
}

func TestDroppedConnectionGivesUnknownOutcomeThenRebinds(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{DropEvery: 4, ReceiptDelay: -1})
	c := runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	ctx := ctxT(t)
	var ok int
	var unknown []Submission
	for i := 0; i < 12; i++ {
		sub := Submission{Ref: uuid.New(), Source: "Z", Dest: "244990000001", Text: "x"}
		_, err := c.Submit(ctx, sub)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrUnknownOutcome):
			unknown = append(unknown, sub)
		default:
			t.Fatal(err)
		}
	}
	eventually(t, "the bind after the last drop", func() bool { return smsc.Stats().Binds == 4 })
	st := smsc.Stats()
	if len(unknown) != 3 || ok != 9 || st.Dropped != 3 || st.Submits != 12 || st.Duplicates != 0 {
		t.Fatalf("ok %d unknown %d stats %+v", ok, len(unknown), st)
	}
	// The dropped parts had been taken: sending them again is the
	// duplicate window, and the SMSC sees it by our id TLV.
	for _, sub := range unknown {
		if _, err := c.Submit(ctx, sub); err != nil && !errors.Is(err, ErrUnknownOutcome) {
			t.Fatal(err)
		}
	}
	if st := smsc.Stats(); st.Duplicates != 3 {
		t.Fatalf("duplicates %d", st.Duplicates)
	}
}

func TestConnectionsDroppedAfterBindAreBoundAgain(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{DropAfter: 100 * time.Millisecond, ReceiptDelay: -1})
	c := runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond})
	eventually(t, "three binds", func() bool { return smsc.Stats().Binds >= 3 })
	if st := smsc.Stats(); st.Dropped < 2 {
		t.Fatalf("stats %+v", st)
	}
	var err error
	for i := 0; i < 20; i++ { // a submit may meet a drop; one gets through
		if _, err = c.Submit(ctxT(t), Submission{Ref: uuid.New(), Source: "Z", Dest: "1", Text: "x"}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestFailedDeliveryHandlingIsRedelivered(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{ReceiptRetry: 20 * time.Millisecond})
	var calls atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	c := runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", Mode: TxRx, OnDeliver: func(_ context.Context, d Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		seen[d.Receipt.MessageID]++
		if calls.Add(1)%2 == 1 {
			return errors.New("store unavailable")
		}
		return nil
	}})
	ctx := ctxT(t)
	res, err := c.Submit(ctx, Submission{Ref: uuid.New(), Source: "Z", Dest: "244990000001", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the receipt acknowledged", func() bool { return smsc.Stats().ReceiptsAcked == 1 })
	st := smsc.Stats()
	mu.Lock()
	defer mu.Unlock()
	if seen[res.MessageIDs[0]] != 2 || st.ReceiptsNacked != 1 || st.Binds != 2 {
		t.Fatalf("seen %v stats %+v", seen, st)
	}
}

func TestMobileOriginatedReachesOnDeliver(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{})
	got := make(chan Delivery, 1)
	runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", OnDeliver: func(_ context.Context, d Delivery) error { got <- d; return nil }})
	ctx := ctxT(t)
	eventually(t, "a bind", func() bool { return smsc.Stats().Binds == 1 })
	if err := smsc.SendMO(ctx, "a", "+244990000001", "ZIETT", "STOP ж"); err != nil {
		t.Fatal(err)
	}
	d := <-got
	if d.MO == nil || d.MO.From != "244990000001" || d.MO.To != "ZIETT" || d.MO.Text != "STOP ж" {
		t.Fatalf("%+v", d.MO)
	}
	if err := smsc.SendMO(ctx, "nobody", "1", "2", "x"); err == nil {
		t.Fatal("MO to an account without a bind succeeded")
	}
}

func TestBindRefusedIsRetriedAndSubmitWaits(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{Accounts: map[string]string{"a": "right"}})
	c := runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", Password: "wrong", ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Submit(ctx, Submission{Ref: uuid.New(), Source: "Z", Dest: "1", Text: "x"})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("got %v", err)
	}
	if st := smsc.Stats(); st.Binds != 0 || st.Submits != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// rawSMSC is a hand-driven peer for what the simulator never does: hold
// responses, send unknown commands, ask enquire_link.
type rawSMSC struct {
	ln   net.Listener
	mu   sync.Mutex
	seen []PDU
	conn net.Conn
	// unanswered is how many submit_sm to leave without a response.
	unanswered atomic.Int64
}

func startRaw(t *testing.T) *rawSMSC {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rawSMSC{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		c := r.conn
		r.mu.Unlock()
		if c != nil {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conn = c
			r.mu.Unlock()
			go r.serve(c)
		}
	}()
	return r
}

func (r *rawSMSC) send(p PDU) {
	b, _ := Encode(p)
	r.mu.Lock()
	c := r.conn
	r.mu.Unlock()
	c.Write(b)
}

func (r *rawSMSC) serve(c net.Conn) {
	for {
		raw, err := ReadPDU(c, nil)
		if err != nil {
			return
		}
		p, err := Decode(raw)
		if err != nil {
			continue
		}
		r.mu.Lock()
		r.seen = append(r.seen, p)
		r.mu.Unlock()
		switch p.ID {
		case BindTransceiver:
			r.send(PDU{Header: Header{ID: BindTransceiverResp, Seq: p.Seq}, Body: &BindResp{SystemID: "raw"}})
		case SubmitSM:
			if r.unanswered.Add(-1) < 0 {
				r.send(PDU{Header: Header{ID: SubmitSMResp, Seq: p.Seq}, Body: &SMResp{MessageID: "m1"}})
			}
		case EnquireLink:
			r.send(PDU{Header: Header{ID: EnquireLinkResp, Seq: p.Seq}})
		case Unbind:
			r.send(PDU{Header: Header{ID: UnbindResp, Seq: p.Seq}})
		}
	}
}

func (r *rawSMSC) count(id uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.seen {
		if p.ID == id {
			n++
		}
	}
	return n
}

func (r *rawSMSC) find(id uint32) (PDU, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.seen {
		if p.ID == id {
			return p, true
		}
	}
	return PDU{}, false
}

func TestSessionRulesAgainstAHandDrivenPeer(t *testing.T) {
	raw := startRaw(t)
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg, "raw")
	c, err := NewClient(ClientConfig{Addr: raw.ln.Addr().String(), SystemID: "a", Window: 2, ResponseTimeout: 400 * time.Millisecond,
		EnquireLink: 50 * time.Millisecond, Metrics: m, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { c.Run(runCtx); close(ran) }()
	defer func() { stop(); <-ran }()
	eventually(t, "bind", func() bool { return raw.count(BindTransceiver) == 1 })
	eventually(t, "the bind gauge", func() bool { return value(m.bindUp.WithLabelValues("raw", "0", "trx")) == 1 })
	if b, _ := raw.find(BindTransceiver); b.Body.(*Bind).InterfaceVersion != 0x34 {
		t.Fatalf("bind %+v", b.Body)
	}

	t.Run("the client keeps the link alive with enquire_link", func(t *testing.T) {
		eventually(t, "two enquire_link", func() bool { return raw.count(EnquireLink) >= 2 })
	})
	t.Run("an unknown command is answered with generic_nack", func(t *testing.T) {
		raw.send(PDU{Header: Header{ID: 0x00000103, Seq: 77}}) // data_sm, not spoken here
		eventually(t, "generic_nack", func() bool { return raw.count(GenericNack) == 1 })
		if p, _ := raw.find(GenericNack); p.Seq != 77 || p.Status != ESME_RINVCMDID {
			t.Fatalf("%+v", p.Header)
		}
	})
	t.Run("enquire_link from the peer is answered", func(t *testing.T) {
		raw.send(PDU{Header: Header{ID: EnquireLink, Seq: 78}})
		eventually(t, "enquire_link_resp", func() bool {
			p, ok := raw.find(EnquireLinkResp)
			return ok && p.Seq == 78
		})
	})
	t.Run("the window bounds outstanding submits and an unanswered one is an unknown outcome", func(t *testing.T) {
		ctx := ctxT(t)
		raw.unanswered.Store(2)
		errs := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() {
				_, err := c.Submit(ctx, Submission{Ref: uuid.New(), Source: "Z", Dest: "1", Text: "x"})
				errs <- err
			}()
		}
		eventually(t, "two outstanding", func() bool { return raw.count(SubmitSM) == 2 })
		if g := value(m.window.WithLabelValues("raw")); g != 2 {
			t.Fatalf("window gauge %v", g)
		}
		var unknown, ok int
		for i := 0; i < 3; i++ {
			switch err := <-errs; {
			case err == nil:
				ok++
			case errors.Is(err, ErrUnknownOutcome):
				unknown++
			default:
				t.Fatal(err)
			}
		}
		if unknown != 2 || ok != 1 {
			t.Fatalf("%d unknown, %d ok", unknown, ok)
		}
		if n := raw.count(SubmitSM); n != 3 {
			t.Fatalf("%d submit_sm", n)
		}
	})
	t.Run("shutdown unbinds", func(t *testing.T) {
		stop()
		<-ran
		if raw.count(Unbind) != 1 {
			t.Fatal("no unbind")
		}
		if v := value(m.bindUp.WithLabelValues("raw", "0", "trx")); v != 0 {
			t.Fatalf("bind gauge %v after unbind", v)
		}
	})
}

func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

func TestNewClientRefusesBadConfigurations(t *testing.T) {
	ok := ClientConfig{Addr: "127.0.0.1:2775", SystemID: "a"}
	rows := []struct {
		name string
		mod  func(*ClientConfig)
	}{
		{"no address", func(c *ClientConfig) { c.Addr = "" }},
		{"address without a port", func(c *ClientConfig) { c.Addr = "smsc.example" }},
		{"no system_id", func(c *ClientConfig) { c.SystemID = "" }},
		{"system_id over 15 octets", func(c *ClientConfig) { c.SystemID = "abcdefghijklmnop" }},
		{"password over 8 octets", func(c *ClientConfig) { c.Password = "123456789" }},
		{"negative binds", func(c *ClientConfig) { c.Binds = -1 }},
		{"window too large", func(c *ClientConfig) { c.Window = 10001 }},
		{"unknown long mode", func(c *ClientConfig) { c.Long = 7 }},
		{"reconnect max below min", func(c *ClientConfig) { c.ReconnectMin, c.ReconnectMax = time.Second, time.Millisecond }},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			cfg := ok
			r.mod(&cfg)
			if _, err := NewClient(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	c, err := NewClient(ok)
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Binds != 1 || c.cfg.Window != 10 || c.cfg.EnquireLink != 30*time.Second || c.cfg.Mode != Transceiver || c.cfg.Long != LongUDH || c.cfg.ResponseTimeout != 10*time.Second {
		t.Fatalf("defaults %+v", c.cfg)
	}
	if _, err := ParseLongMode("mms"); err == nil {
		t.Fatal("unknown long mode name accepted")
	}
}

func TestSlowDeliveryHandlingDoesNotHoldUpSubmits(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{ReceiptRetry: 20 * time.Millisecond})
	release := make(chan struct{})
	var handled atomic.Int64
	c := runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", DeliverConcurrency: 1, ResponseTimeout: 2 * time.Second,
		OnDeliver: func(ctx context.Context, d Delivery) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			handled.Add(1)
			return nil
		}})
	ctx := ctxT(t)
	// 40 receipts arrive while the one worker is stuck: 1 in hand, 16
	// queued, the rest refused; the submits' responses still come.
	for i := 0; i < 40; i++ {
		if _, err := c.Submit(ctx, Submission{Ref: uuid.New(), Source: "Z", Dest: "244990000001", Text: "x"}); err != nil {
			t.Fatalf("submit %d while deliveries are stuck: %v", i, err)
		}
	}
	eventually(t, "refusals", func() bool { return smsc.Stats().ReceiptsNacked > 0 })
	close(release)
	eventually(t, "every receipt handled", func() bool { return smsc.Stats().ReceiptsAcked == 40 })
	if n := handled.Load(); n < 40 {
		t.Fatalf("handled %d", n)
	}
}

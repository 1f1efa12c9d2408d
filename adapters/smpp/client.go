package smpp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// BindMode chooses how a bind is made.
type BindMode int

const (
	// Transceiver binds once per bind (bind_transceiver): submits and
	// deliveries share the connection.
	Transceiver BindMode = iota
	// TxRx makes a bind_transmitter and a bind_receiver per bind.
	TxRx
)

// LongMode chooses how a text longer than one SMS is sent.
type LongMode int

const (
	// LongUDH sends one submit_sm per part with an 8-bit reference
	// concatenation UDH (05 00 03 ref total seq) and esm_class UDHI.
	LongUDH LongMode = iota
	// LongSAR sends one submit_sm per part with the sar_msg_ref_num,
	// sar_total_segments and sar_segment_seqnum TLVs.
	LongSAR
	// LongPayload sends the whole text in one submit_sm's message_payload
	// TLV; the SMSC splits it.
	LongPayload
)

// ParseLongMode reads "udh", "sar" or "payload" ("" is udh).
func ParseLongMode(s string) (LongMode, error) {
	switch strings.ToLower(s) {
	case "", "udh":
		return LongUDH, nil
	case "sar":
		return LongSAR, nil
	case "payload", "message_payload":
		return LongPayload, nil
	}
	return 0, fmt.Errorf("smpp: long message mode %q is not udh, sar or payload", s)
}

func (m LongMode) String() string {
	switch m {
	case LongSAR:
		return "sar"
	case LongPayload:
		return "payload"
	}
	return "udh"
}

// ClientConfig configures a Client. Zero fields take the defaults named in
// their comments (NewClient applies them).
type ClientConfig struct {
	// Name names the link in logs (the provider); default Addr.
	Name string
	// Addr is the SMSC's host:port. Required.
	Addr string
	// SystemID (max 15 octets) and Password (max 8) are the account; SystemType
	// (max 12) is usually empty.
	SystemID, Password, SystemType string
	// Binds is how many binds (connections) to keep up; default 1.
	Binds int
	// Mode is Transceiver (default) or TxRx (a transmitter and a receiver
	// per bind).
	Mode BindMode
	// Window is how many submit_sm may be outstanding per bind; default 10.
	Window int
	// EnquireLink is the keepalive interval; default 30s.
	EnquireLink time.Duration
	// Long is how long texts are sent; default LongUDH.
	Long LongMode
	// TLS dials with TLS (TLSConfig, or one verifying Addr's host).
	TLS       bool
	TLSConfig *tls.Config
	// SourceTON and SourceNPI override the source address type chosen from
	// the sender name (alphanumeric 5/0, long number 1/1, short code 3/0).
	SourceTON, SourceNPI *byte
	// ReconnectMin and ReconnectMax bound the backoff between attempts to
	// connect and bind; defaults 500ms and 30s. The wait doubles after each
	// failure, with jitter, and resets once bound.
	ReconnectMin, ReconnectMax time.Duration
	// ResponseTimeout bounds the wait for any response (bind, submit,
	// enquire_link); default 10s. A submit_sm not answered in time returns
	// an error matching ErrUnknownOutcome.
	ResponseTimeout time.Duration
	// ThrottleMin and ThrottleMax bound how long a bind pauses after
	// ESME_RTHROTTLED or ESME_RMSGQFUL; defaults 50ms and 2s. The pause
	// doubles while throttling goes on and resets on success.
	ThrottleMin, ThrottleMax time.Duration
	// DeliverConcurrency is how many deliver_sm per bind may be in OnDeliver
	// at once; default 64. Up to 16 times as many wait their turn; beyond
	// that a deliver_sm is answered ESME_RX_T_APPN at once (the SMSC
	// delivers it again), so slow handling never stops the bind from
	// reading submit responses.
	DeliverConcurrency int
	// OnDeliver handles receipts and mobile-originated messages. The
	// deliver_sm is answered ESME_ROK only after it returns nil, else
	// ESME_RX_T_APPN so the SMSC delivers again. Nil acknowledges everything.
	OnDeliver func(ctx context.Context, d Delivery) error
	// Log defaults to slog.Default().
	Log *slog.Logger
	// Metrics, if set, receives the link's series (see NewMetrics).
	Metrics *Metrics
}

// Client is an ESME: it keeps its binds to one SMSC up and submits over them.
type Client struct {
	cfg ClientConfig
	log *slog.Logger
	m   *Metrics

	mu       sync.Mutex
	slots    []*session // one per bind slot; nil while down
	rr       int
	closing  bool
	inFlight int
	wake     chan struct{} // capacity 1: a slot freed or a bind came up

	ref     atomic.Uint32 // concatenation reference
	running atomic.Bool
}

// Errors Submit returns besides *StatusError.
var (
	// ErrUnknownOutcome: the submit_sm was written but its response never
	// came (timeout, dropped connection, shutdown). The SMSC may or may not
	// have taken it.
	ErrUnknownOutcome = errors.New("smpp: outcome unknown: no response to submit_sm")
	// ErrClosed: the client is shutting down and sends nothing more.
	ErrClosed = errors.New("smpp: client closed")
	// ErrBadSubmission: the submission cannot be sent (empty or invalid
	// destination or source).
	ErrBadSubmission = errors.New("smpp: invalid submission")
)

// NewClient applies defaults and validates cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("smpp: Addr is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("smpp: Addr %q: %w", cfg.Addr, err)
	}
	if cfg.SystemID == "" {
		return nil, errors.New("smpp: SystemID is required")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"SystemID", cfg.SystemID, maxSystemID - 1}, {"Password", cfg.Password, maxPassword - 1}, {"SystemType", cfg.SystemType, maxSystemType - 1}} {
		if len(f.v) > f.max {
			return nil, fmt.Errorf("smpp: %s is %d octets, the limit is %d", f.name, len(f.v), f.max)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Addr
	}
	if cfg.Binds == 0 {
		cfg.Binds = 1
	}
	if cfg.Window == 0 {
		cfg.Window = 10
	}
	if cfg.DeliverConcurrency == 0 {
		cfg.DeliverConcurrency = 64
	}
	def(&cfg.EnquireLink, 30*time.Second)
	def(&cfg.ReconnectMin, 500*time.Millisecond)
	def(&cfg.ReconnectMax, 30*time.Second)
	def(&cfg.ResponseTimeout, 10*time.Second)
	def(&cfg.ThrottleMin, 50*time.Millisecond)
	def(&cfg.ThrottleMax, 2*time.Second)
	switch {
	case cfg.Binds < 0 || cfg.Binds > 64:
		return nil, fmt.Errorf("smpp: Binds %d outside 1..64", cfg.Binds)
	case cfg.Window < 0 || cfg.Window > 10000:
		return nil, fmt.Errorf("smpp: Window %d outside 1..10000", cfg.Window)
	case cfg.Mode != Transceiver && cfg.Mode != TxRx:
		return nil, fmt.Errorf("smpp: unknown bind mode %d", cfg.Mode)
	case cfg.Long < LongUDH || cfg.Long > LongPayload:
		return nil, fmt.Errorf("smpp: unknown long message mode %d", cfg.Long)
	case cfg.EnquireLink < 0 || cfg.ReconnectMin < 0 || cfg.ResponseTimeout < 0 || cfg.ThrottleMin < 0:
		return nil, errors.New("smpp: durations must be positive")
	case cfg.ReconnectMax < cfg.ReconnectMin:
		return nil, errors.New("smpp: ReconnectMax below ReconnectMin")
	case cfg.ThrottleMax < cfg.ThrottleMin:
		return nil, errors.New("smpp: ThrottleMax below ThrottleMin")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Client{cfg: cfg, log: cfg.Log.With("smpp_link", cfg.Name), m: cfg.Metrics, wake: make(chan struct{}, 1)}
	n := cfg.Binds
	if cfg.Mode == TxRx {
		n *= 2
	}
	c.slots = make([]*session, n)
	c.ref.Store(rand.Uint32())
	return c, nil
}

// slotKind is the bind command of slot i.
func (c *Client) slotKind(i int) uint32 {
	if c.cfg.Mode == TxRx {
		if i < c.cfg.Binds {
			return BindTransmitter
		}
		return BindReceiver
	}
	return BindTransceiver
}

func kindLabel(k uint32) string {
	switch k {
	case BindTransmitter:
		return "tx"
	case BindReceiver:
		return "rx"
	}
	return "trx"
}

// Run keeps every bind up until ctx ends: it connects, binds, sends
// enquire_link, and after a failed bind or a dropped connection waits a
// growing backoff and binds again. When ctx ends it stops taking submits,
// lets outstanding ones finish (up to ResponseTimeout), unbinds and returns
// nil. Run may be called once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("smpp: Run called twice")
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range c.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.keepBound(ctx, stop, i)
		}()
	}
	<-ctx.Done()
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.signal()
	// Let submits already sent get their answers before unbinding.
	deadline := time.Now().Add(c.cfg.ResponseTimeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := c.inFlight
		c.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	return nil
}

// keepBound runs one bind slot until stop closes.
func (c *Client) keepBound(ctx context.Context, stop chan struct{}, idx int) {
	kind := c.slotKind(idx)
	backoff := c.cfg.ReconnectMin
	for {
		select {
		case <-stop:
			return
		default:
		}
		if ctx.Err() != nil {
			// Shutting down: nothing more to bind, wait for stop.
			<-stop
			return
		}
		s, err := c.dial(ctx, idx, kind)
		if err != nil {
			c.log.Warn("smpp bind failed", "bind", idx, "kind", kindLabel(kind), "err", err, "retry_in", backoff)
			var se *StatusError
			if errors.As(err, &se) {
				c.m.bindFailed(se.Name)
			} else {
				c.m.bindFailed("dial")
			}
			wait := backoff/2 + rand.N(backoff/2+1)
			select {
			case <-stop:
				return
			case <-ctx.Done():
			case <-time.After(wait):
			}
			backoff = min(backoff*2, c.cfg.ReconnectMax)
			continue
		}
		backoff = c.cfg.ReconnectMin
		c.log.Info("smpp bound", "bind", idx, "kind", kindLabel(kind), "smsc", s.peerID)
		c.m.setBind(idx, kindLabel(kind), true)
		c.mu.Lock()
		c.slots[idx] = s
		c.mu.Unlock()
		c.signal()

		select {
		case <-s.done:
			c.log.Warn("smpp connection lost", "bind", idx, "kind", kindLabel(kind), "err", s.err())
			c.m.bindFailed("dropped")
		case <-stop:
			s.unbind()
		}
		c.mu.Lock()
		if c.slots[idx] == s {
			c.slots[idx] = nil
		}
		c.mu.Unlock()
		c.m.setBind(idx, kindLabel(kind), false)
		s.close(errors.New("unbound"))
	}
}

// dial connects and binds one session.
func (c *Client) dial(ctx context.Context, idx int, kind uint32) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.ResponseTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if c.cfg.TLS {
		tc := c.cfg.TLSConfig
		if tc == nil {
			host, _, _ := net.SplitHostPort(c.cfg.Addr)
			tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		conn, err = (&tls.Dialer{Config: tc}).DialContext(dctx, "tcp", c.cfg.Addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", c.cfg.Addr)
	}
	if err != nil {
		return nil, err
	}
	s := newSession(c, idx, kind, conn)
	go s.readLoop()
	resp, err := s.request(dctx, PDU{Header: Header{ID: kind}, Body: &Bind{
		SystemID: c.cfg.SystemID, Password: c.cfg.Password, SystemType: c.cfg.SystemType,
		InterfaceVersion: InterfaceVersion,
	}})
	if err != nil {
		s.close(err)
		return nil, err
	}
	if resp.ID == GenericNack || resp.Status != ESME_ROK {
		s.close(errors.New("bind refused"))
		return nil, NewStatusError(resp.Status)
	}
	if br, ok := resp.Body.(*BindResp); ok {
		s.peerID = br.SystemID
	}
	s.bound.Store(true)
	if kind != BindReceiver {
		s.canSubmit = true
	}
	go s.keepalive()
	return s, nil
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// acquire takes a window slot on a bound, unpaused transmitting session,
// spreading submits round robin; it waits while none has room.
func (c *Client) acquire(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		now := time.Now().UnixNano()
		var soonest int64
		var got *session
		n := len(c.slots)
		for i := 0; i < n; i++ {
			s := c.slots[(c.rr+i)%n]
			if s == nil || !s.canSubmit || s.isClosed() {
				continue
			}
			if p := s.pausedUntil.Load(); p > now {
				if soonest == 0 || p < soonest {
					soonest = p
				}
				continue
			}
			if s.inUse < c.cfg.Window {
				got = s
				c.rr = (c.rr + i + 1) % n
				break
			}
		}
		if got != nil {
			got.inUse++
			c.inFlight++
			more := false
			for _, s := range c.slots {
				if s != nil && s.canSubmit && s.inUse < c.cfg.Window {
					more = true
					break
				}
			}
			c.mu.Unlock()
			c.m.windowAdd(1)
			if more {
				c.signal() // pass the wake-up on to the next waiter
			}
			return got, nil
		}
		c.mu.Unlock()
		var timer <-chan time.Time
		var t *time.Timer
		if soonest != 0 {
			t = time.NewTimer(time.Duration(soonest - now))
			timer = t.C
		}
		select {
		case <-ctx.Done():
			c.signal()
			if t != nil {
				t.Stop()
			}
			return nil, ctx.Err()
		case <-c.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

func (c *Client) release(s *session) {
	c.mu.Lock()
	s.inUse--
	c.inFlight--
	c.mu.Unlock()
	c.m.windowAdd(-1)
	c.signal()
}

// Submission is one message to send.
type Submission struct {
	// Ref is our message id, carried in the vendor TLV 0x1501.
	Ref uuid.UUID
	// Source is the sender name: alphanumeric (max 11), or digits.
	Source string
	// Dest is an E.164 number, with or without '+'.
	Dest string
	Text string
}

// SubmitResult is what the SMSC answered: its message id per part, in
// part order (one id in LongPayload mode, where Parts still counts the
// segments billed).
type SubmitResult struct {
	MessageIDs []string
	Parts      int
	Encoding   string
}

// Addressing picks the source TON/NPI from a sender name: alphanumeric
// 5/0, digits longer than 8 international 1/1, shorter digits a short code
// 3/0. A leading '+' on a number is dropped.
func Addressing(source string) (addr string, ton, npi byte) {
	s := strings.TrimPrefix(source, "+")
	if s != "" && isDigits(s) {
		if len(s) > 8 {
			return s, 1, 1
		}
		return s, 3, 0
	}
	return source, 5, 0
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// BuildSubmits turns a submission into its submit_sm bodies (one per part,
// or one with message_payload), with the Split it came from.
func BuildSubmits(s Submission, long LongMode, ref byte, srcTON, srcNPI *byte) ([]*SM, Split, error) {
	dest := strings.TrimPrefix(strings.TrimSpace(s.Dest), "+")
	if dest == "" || !isDigits(dest) || len(dest) > maxAddr-1 {
		return nil, Split{}, fmt.Errorf("%w: destination %q is not an E.164 number", ErrBadSubmission, s.Dest)
	}
	src, ton, npi := Addressing(s.Source)
	if src == "" || len(src) > maxAddr-1 {
		return nil, Split{}, fmt.Errorf("%w: source %q must be 1 to 20 characters", ErrBadSubmission, s.Source)
	}
	if srcTON != nil {
		ton = *srcTON
	}
	if srcNPI != nil {
		npi = *srcNPI
	}
	sp, err := SplitText(s.Text)
	if err != nil {
		return nil, sp, err
	}
	base := SM{
		SourceTON: ton, SourceNPI: npi, Source: src,
		DestTON: 1, DestNPI: 1, Dest: dest,
		RegisteredDelivery: 1, DataCoding: sp.DataCoding,
	}
	idTLV := TLV{Tag: TagZiettMessageID, Value: append([]byte(nil), s.Ref[:]...)}
	if long == LongPayload && len(sp.Parts) > 1 {
		m := base
		m.TLVs = TLVs{idTLV, {Tag: TagMessagePayload, Value: sp.Whole}}
		return []*SM{&m}, sp, nil
	}
	out := make([]*SM, len(sp.Parts))
	total := len(sp.Parts)
	if total > 255 {
		return nil, sp, fmt.Errorf("%w: %d parts, the limit is 255", ErrBadSubmission, total)
	}
	for i, p := range sp.Parts {
		m := base
		m.TLVs = TLVs{idTLV}
		switch {
		case total == 1:
			m.ShortMessage = p
		case long == LongSAR:
			m.ShortMessage = p
			m.TLVs = append(m.TLVs, Uint16TLV(TagSARMsgRefNum, uint16(ref)),
				Uint8TLV(TagSARTotalSegments, byte(total)), Uint8TLV(TagSARSegmentSeqnum, byte(i+1)))
		default:
			m.ESMClass = ESMClassUDHI
			m.ShortMessage = append(AppendConcatUDH(make([]byte, 0, 6+len(p)), UDH{Ref: ref, Total: byte(total), Seq: byte(i + 1)}), p...)
		}
		out[i] = &m
	}
	return out, sp, nil
}

// Submit sends s, one submit_sm per part, over the healthy binds. It waits
// while every window is full or no bind is up. ESME_RTHROTTLED and
// ESME_RMSGQFUL pause the bind that answered them and send the part again,
// until ctx ends. Other non-zero statuses return a *StatusError; a part
// whose response never comes returns an error matching ErrUnknownOutcome.
// The result holds the ids of the parts accepted so far, also on error.
func (c *Client) Submit(ctx context.Context, s Submission) (SubmitResult, error) {
	pdus, sp, err := BuildSubmits(s, c.cfg.Long, byte(c.ref.Add(1)), c.cfg.SourceTON, c.cfg.SourceNPI)
	res := SubmitResult{Parts: sp.Segments, Encoding: sp.Encoding}
	if err != nil {
		return res, err
	}
	res.MessageIDs = make([]string, 0, len(pdus))
	for _, sm := range pdus {
		id, err := c.submitOne(ctx, sm)
		if err != nil {
			return res, err
		}
		res.MessageIDs = append(res.MessageIDs, id)
	}
	return res, nil
}

// submitOne sends one submit_sm until it is answered with something other
// than a throttling status.
func (c *Client) submitOne(ctx context.Context, sm *SM) (string, error) {
	var last error
	for {
		s, err := c.acquire(ctx)
		if err != nil {
			if last != nil {
				return "", fmt.Errorf("%w (last answer: %v)", err, last)
			}
			return "", err
		}
		start := time.Now()
		resp, err := s.request(ctx, PDU{Header: Header{ID: SubmitSM}, Body: sm})
		c.release(s)
		if err != nil {
			if errors.Is(err, errNotSent) {
				continue // the bind went away before the PDU left; try another
			}
			c.m.unknownOutcome()
			return "", err
		}
		c.m.submitted(resp.Status, time.Since(start).Seconds())
		if resp.ID == GenericNack {
			return "", fmt.Errorf("smpp: submit_sm answered with generic_nack: %w", NewStatusError(resp.Status))
		}
		switch resp.Status {
		case ESME_ROK:
			s.throttleOK()
			if r, ok := resp.Body.(*SMResp); ok && r.MessageID != "" {
				return r.MessageID, nil
			}
			return "", errors.New("smpp: submit_sm_resp without a message_id")
		case ESME_RTHROTTLED, ESME_RMSGQFUL:
			last = NewStatusError(resp.Status)
			s.throttled()
			continue
		}
		return "", NewStatusError(resp.Status)
	}
}

// errNotSent: the PDU was never written (the session had closed).
var errNotSent = errors.New("smpp: session closed before sending")

// session is one bound connection.
type session struct {
	c      *Client
	idx    int
	kind   uint32
	conn   net.Conn
	peerID string

	w *connWriter

	seq       atomic.Uint32
	bound     atomic.Bool
	canSubmit bool // set before the session is published
	inUse     int  // guarded by c.mu

	pmu     sync.Mutex
	pending map[uint32]chan PDU

	pausedUntil atomic.Int64
	tmu         sync.Mutex
	pause       time.Duration

	deliveries chan PDU
	done       chan struct{}
	closeOnce  sync.Once
	closeErr   atomic.Value
}

func newSession(c *Client, idx int, kind uint32, conn net.Conn) *session {
	s := &session{
		c: c, idx: idx, kind: kind, conn: conn,
		pending:    map[uint32]chan PDU{},
		deliveries: make(chan PDU, 16*c.cfg.DeliverConcurrency),
		done:       make(chan struct{}),
	}
	s.w = newConnWriter(conn, s.done, func(err error) { s.close(err) })
	if kind != BindTransmitter {
		// A fixed set of workers (not a goroutine per deliver_sm) keeps
		// their grown stacks between deliveries.
		for i := 0; i < c.cfg.DeliverConcurrency; i++ {
			go func() {
				for {
					select {
					case p := <-s.deliveries:
						s.deliver(p)
					case <-s.done:
						return
					}
				}
			}()
		}
	}
	return s
}

func (s *session) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *session) err() error {
	if e, ok := s.closeErr.Load().(error); ok {
		return e
	}
	return nil
}

func (s *session) close(err error) {
	s.closeOnce.Do(func() {
		s.closeErr.Store(err)
		close(s.done)
		s.conn.Close()
	})
}

// nextSeq gives sequence numbers 1..0x7FFFFFFF (spec 5.1.4).
func (s *session) nextSeq() uint32 {
	for {
		n := s.seq.Add(1) & 0x7FFFFFFF
		if n != 0 {
			return n
		}
	}
}

// write queues one PDU for the connection's writer.
func (s *session) write(p PDU) error {
	b, err := AppendPDU(make([]byte, 0, 192), p)
	if err != nil {
		return err
	}
	if !s.w.send(b) {
		return errNotSent
	}
	return nil
}

// request sends p with a new sequence number and waits for the response
// with the same number. Errors after the write match ErrUnknownOutcome.
func (s *session) request(ctx context.Context, p PDU) (PDU, error) {
	p.Seq = s.nextSeq()
	ch := make(chan PDU, 1)
	s.pmu.Lock()
	s.pending[p.Seq] = ch
	s.pmu.Unlock()
	forget := func() {
		s.pmu.Lock()
		delete(s.pending, p.Seq)
		s.pmu.Unlock()
	}
	if err := s.write(p); err != nil {
		forget()
		if errors.Is(err, errNotSent) {
			return PDU{}, err
		}
		if errors.Is(err, ErrBadField) || errors.Is(err, ErrBadLength) {
			return PDU{}, err
		}
		return PDU{}, fmt.Errorf("%w: %s write failed: %v", ErrUnknownOutcome, CommandName(p.ID), err)
	}
	t := time.NewTimer(s.c.cfg.ResponseTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-t.C:
		forget()
		return PDU{}, fmt.Errorf("%w: %s seq %d unanswered after %v", ErrUnknownOutcome, CommandName(p.ID), p.Seq, s.c.cfg.ResponseTimeout)
	case <-s.done:
		forget()
		return PDU{}, fmt.Errorf("%w: connection lost waiting for %s seq %d: %v", ErrUnknownOutcome, CommandName(p.ID), p.Seq, s.err())
	case <-ctx.Done():
		forget()
		return PDU{}, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
	}
}

// respond answers a request from the peer.
func (s *session) respond(req Header, id, status uint32, body Body) {
	if err := s.write(PDU{Header: Header{ID: id, Status: status, Seq: req.Seq}, Body: body}); err != nil && !errors.Is(err, errNotSent) {
		s.c.log.Warn("smpp write failed", "bind", s.idx, "err", err)
	}
}

func (s *session) readLoop() {
	br := bufio.NewReaderSize(s.conn, 16*1024)
	var buf []byte
	for {
		raw, err := ReadPDU(br, buf)
		if err != nil {
			if raw != nil { // a header with an impossible length: framing is lost
				h, _ := DecodeHeader(raw)
				s.respond(h, GenericNack, ESME_RINVCMDLEN, nil)
			}
			s.close(err)
			return
		}
		buf = raw[:0]
		p, err := Decode(raw)
		if err != nil {
			s.c.log.Warn("smpp undecodable PDU", "bind", s.idx, "err", err)
			if p.ID&respBit == 0 || errors.Is(err, ErrUnknownCmd) {
				status := ESME_RINVCMDLEN
				if errors.Is(err, ErrUnknownCmd) {
					status = ESME_RINVCMDID
				}
				s.respond(p.Header, GenericNack, status, nil)
			}
			continue
		}
		s.handle(p)
	}
}

func (s *session) handle(p PDU) {
	if p.ID&respBit != 0 {
		if (p.ID == BindTransceiverResp || p.ID == BindReceiverResp) && p.Status == ESME_ROK {
			// The SMSC may deliver right behind its bind_resp, before
			// dial has seen it: the bind counts from here.
			s.bound.Store(true)
		}
		s.pmu.Lock()
		ch, ok := s.pending[p.Seq]
		delete(s.pending, p.Seq)
		s.pmu.Unlock()
		if ok {
			ch <- p
		} else if p.ID != GenericNack {
			s.c.log.Debug("smpp response to nothing outstanding", "bind", s.idx, "cmd", CommandName(p.ID), "seq", p.Seq)
		}
		return
	}
	switch p.ID {
	case EnquireLink:
		s.respond(p.Header, EnquireLinkResp, ESME_ROK, nil)
	case Unbind:
		if b, err := Encode(PDU{Header: Header{ID: UnbindResp, Seq: p.Seq}}); err == nil {
			s.w.closeAfter(b)
		}
	case DeliverSM:
		if !s.bound.Load() || s.kind == BindTransmitter {
			s.respond(p.Header, DeliverSMResp, ESME_RINVBNDSTS, &SMResp{})
			return
		}
		select {
		case s.deliveries <- p: // a worker answers it
		default:
			// Every worker busy and the queue full: refuse rather than stop
			// reading, which would hold up submit_sm_resp behind slow
			// handling. The SMSC delivers it again later.
			s.c.m.deliverError("busy")
			s.respond(p.Header, DeliverSMResp, ESME_RX_T_APPN, &SMResp{})
		}
	default:
		// A request an ESME never receives (submit_sm, bind, …).
		s.respond(p.Header, p.ID|respBit, ESME_RINVBNDSTS, nil)
	}
}

func (s *session) deliver(p PDU) {
	sm := p.Body.(*SM)
	d, err := ParseDelivery(sm)
	if err != nil {
		// Undecodable: acknowledging would lose it silently, refusing makes
		// the SMSC retry forever; refuse and count it.
		s.c.log.Warn("smpp deliver_sm unreadable", "bind", s.idx, "err", err)
		s.c.m.deliverError("unreadable")
		s.respond(p.Header, DeliverSMResp, ESME_RX_T_APPN, &SMResp{})
		return
	}
	d.Bind = s.idx
	status := ESME_ROK
	if h := s.c.cfg.OnDeliver; h != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.ResponseTimeout)
		err = h(ctx, d)
		cancel()
		if err != nil {
			s.c.log.Warn("smpp deliver_sm handling failed; the SMSC will deliver it again", "bind", s.idx, "err", err)
			s.c.m.deliverError("handler")
			status = ESME_RX_T_APPN
		}
	}
	if status == ESME_ROK {
		s.c.m.delivered(d)
	}
	s.respond(p.Header, DeliverSMResp, status, &SMResp{})
}

// keepalive sends enquire_link every EnquireLink and closes the session
// when one goes unanswered.
func (s *session) keepalive() {
	t := time.NewTicker(s.c.cfg.EnquireLink)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.ResponseTimeout)
			_, err := s.request(ctx, PDU{Header: Header{ID: EnquireLink}})
			cancel()
			if err != nil {
				s.close(fmt.Errorf("enquire_link: %w", err))
				return
			}
		}
	}
}

// unbind says goodbye, waiting briefly for unbind_resp.
func (s *session) unbind() {
	ctx, cancel := context.WithTimeout(context.Background(), min(s.c.cfg.ResponseTimeout, 2*time.Second))
	defer cancel()
	_, _ = s.request(ctx, PDU{Header: Header{ID: Unbind}})
	s.close(errors.New("unbound"))
}

// throttled pauses the session, doubling the pause while throttling lasts.
func (s *session) throttled() {
	s.tmu.Lock()
	now := time.Now()
	if now.UnixNano() < s.pausedUntil.Load() {
		// Answers to submits sent before the pause began: already paused.
		s.tmu.Unlock()
		return
	}
	if s.pause == 0 {
		s.pause = s.c.cfg.ThrottleMin
	} else {
		s.pause = min(s.pause*2, s.c.cfg.ThrottleMax)
	}
	p := s.pause
	s.pausedUntil.Store(now.Add(p).UnixNano())
	s.tmu.Unlock()
	s.c.log.Debug("smpp throttled", "bind", s.idx, "pause", p)
}

func (s *session) throttleOK() {
	s.tmu.Lock()
	s.pause = 0
	s.tmu.Unlock()
}

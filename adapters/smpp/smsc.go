package smpp

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// OutcomeRule decides what happens to messages whose destination ends with
// Suffix. SubmitStatus, when non-zero, refuses the submit_sm with that
// command_status (no receipt); otherwise the message is accepted and its
// receipt carries Stat (default DELIVRD) and Err (default "000").
type OutcomeRule struct {
	Suffix       string
	Stat         string
	Err          string
	SubmitStatus uint32
}

// DefaultRules are the demo outcomes: numbers ending in 13 are UNDELIV
// (err 001), in 14 REJECTD (err 002), in 15 EXPIRED, and in 19 refused at
// submit with ESME_RINVDSTADR.
var DefaultRules = []OutcomeRule{
	{Suffix: "13", Stat: "UNDELIV", Err: "001"},
	{Suffix: "14", Stat: "REJECTD", Err: "002"},
	{Suffix: "15", Stat: "EXPIRED", Err: "003"},
	{Suffix: "19", SubmitStatus: ESME_RINVDSTADR},
}

// ParseRules reads "suffix=STAT[:err]" or "suffix=0xSTATUS" items separated
// by commas, e.g. "13=UNDELIV:001,14=REJECTD,19=0x0B".
func ParseRules(s string) ([]OutcomeRule, error) {
	var out []OutcomeRule
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		suf, v, ok := strings.Cut(item, "=")
		if !ok || suf == "" || !isDigits(suf) {
			return nil, fmt.Errorf("smpp: rule %q is not digits=STAT[:err] or digits=0xSTATUS", item)
		}
		r := OutcomeRule{Suffix: suf}
		if strings.HasPrefix(strings.ToLower(v), "0x") {
			n, err := strconv.ParseUint(v[2:], 16, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("smpp: rule %q: bad command_status", item)
			}
			r.SubmitStatus = uint32(n)
		} else {
			r.Stat, r.Err, _ = strings.Cut(strings.ToUpper(v), ":")
			if statLabel(r.Stat) == "OTHER" {
				return nil, fmt.Errorf("smpp: rule %q: stat must be DELIVRD, UNDELIV, REJECTD, EXPIRED, DELETED, ACCEPTD, UNKNOWN or ENROUTE", item)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// FormatRules writes rules in the form ParseRules reads.
func FormatRules(rules []OutcomeRule) string {
	items := make([]string, 0, len(rules))
	for _, r := range rules {
		switch {
		case r.SubmitStatus != 0:
			items = append(items, fmt.Sprintf("%s=0x%02X", r.Suffix, r.SubmitStatus))
		case r.Err != "":
			items = append(items, r.Suffix+"="+r.Stat+":"+r.Err)
		default:
			items = append(items, r.Suffix+"="+r.Stat)
		}
	}
	return strings.Join(items, ",")
}

// SMSCConfig configures the simulator. Zero fields take the defaults in
// their comments.
type SMSCConfig struct {
	// Addr to listen on for Start; default "127.0.0.1:0".
	Addr string
	// SystemID is the SMSC's id in bind responses; default "ziett-smsc".
	SystemID string
	// Accounts maps system_id to password. Empty accepts any account.
	Accounts map[string]string
	// ReceiptDelay is how long after accepting a part its receipt is sent;
	// 0 sends it at once. Negative sends no receipts.
	ReceiptDelay time.Duration
	// ReceiptRetry is the wait before delivering a receipt again after a
	// non-OK answer, a dropped bind or no answer; default 1s.
	ReceiptRetry time.Duration
	// Rules decide outcomes by destination suffix (first match wins).
	Rules []OutcomeRule
	// ThrottlePerSecond answers ESME_RTHROTTLED to submit_sm over this rate
	// per account; 0 = unlimited.
	ThrottlePerSecond float64
	// DropEvery closes the connection instead of answering every N-th
	// submit_sm (counted over the whole SMSC), 0 = never. The dropped part
	// was taken: its receipt still comes, as on a real SMSC whose response
	// was lost.
	DropEvery int
	// DropAfter closes every connection this long after its bind; 0 = never.
	DropAfter time.Duration
	// OnMessage, if set, is called for every whole message received
	// (concatenated parts reassembled), outside any lock.
	OnMessage func(Message)
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Message is a whole message as the SMSC received it.
type Message struct {
	SystemID             string
	Source               string
	SourceTON, SourceNPI byte
	Dest                 string
	DestTON, DestNPI     byte
	DataCoding           byte
	Text                 string
	Parts                int
	// Concat says how the parts were joined: "", "udh", "sar" or "payload".
	Concat     string
	MessageIDs []string
	// Ref is our vendor TLV 0x1501, when present.
	Ref uuid.UUID
	// RegisteredDelivery as asked.
	RegisteredDelivery byte
}

// SMSCStats counts what the simulator did.
type SMSCStats struct {
	Binds          int64
	Submits        int64 // submit_sm accepted (parts)
	Messages       int64 // whole messages reassembled
	Duplicates     int64 // parts whose (vendor id, part) was accepted before
	Refused        int64 // submit_sm refused by a rule
	Throttled      int64
	Dropped        int64 // connections closed by DropEvery / DropAfter
	ReceiptsSent   int64 // deliver_sm receipts written (redeliveries included)
	ReceiptsAcked  int64 // receipts answered ESME_ROK
	ReceiptsNacked int64 // receipts answered otherwise
	MOSent         int64
}

// SMSC is an SMSC simulator speaking SMPP v3.4 over TCP.
type SMSC struct {
	cfg SMSCConfig
	log *slog.Logger

	mu        sync.Mutex
	ln        net.Listener
	conns     map[*smscConn]struct{}
	limiters  map[string]*rate.Limiter
	seenParts map[partKey]struct{}
	assembly  map[asmKey]*assembly
	receipts  map[string]*receiptQueue // by system_id
	closed    bool

	nextID  atomic.Uint64
	submitN atomic.Int64
	stats   struct {
		binds, submits, messages, duplicates, refused, throttled, dropped atomic.Int64
		sent, acked, nacked, mo                                           atomic.Int64
	}
	wg   sync.WaitGroup
	stop chan struct{}
}

type partKey struct {
	ref uuid.UUID
	seq byte
}

type asmKey struct {
	sys, src, dst string
	ref           uint16
}

type assembly struct {
	msg   Message
	parts [][]byte
	ids   []string
	got   int
}

// NewSMSC applies defaults and validates cfg.
func NewSMSC(cfg SMSCConfig) (*SMSC, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.SystemID == "" {
		cfg.SystemID = "ziett-smsc"
	}
	if cfg.ReceiptRetry == 0 {
		cfg.ReceiptRetry = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	switch {
	case len(cfg.SystemID) > maxSystemID-1:
		return nil, fmt.Errorf("smpp: SMSC SystemID %q longer than 15", cfg.SystemID)
	case cfg.ThrottlePerSecond < 0 || cfg.DropEvery < 0 || cfg.DropAfter < 0 || cfg.ReceiptRetry < 0:
		return nil, errors.New("smpp: SMSC rates, counts and durations must not be negative")
	}
	for _, r := range cfg.Rules {
		if r.Suffix == "" {
			return nil, errors.New("smpp: an outcome rule needs a suffix")
		}
	}
	s := &SMSC{cfg: cfg, log: cfg.Log.With("smsc", cfg.SystemID), conns: map[*smscConn]struct{}{},
		limiters: map[string]*rate.Limiter{}, seenParts: map[partKey]struct{}{}, assembly: map[asmKey]*assembly{},
		receipts: map[string]*receiptQueue{}, stop: make(chan struct{})}
	s.nextID.Store(uint64(time.Now().Unix()) * 1000)
	return s, nil
}

// Start listens on cfg.Addr and serves in the background.
func (s *SMSC) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.Serve(ln)
	}()
	// Serve records ln; wait until it has so Addr works at once.
	for {
		s.mu.Lock()
		ok := s.ln != nil || s.closed
		s.mu.Unlock()
		if ok {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
}

// Serve accepts connections on ln until Close.
func (s *SMSC) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.stop:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		c := &smscConn{s: s, conn: nc, pending: map[uint32]chan PDU{}, done: make(chan struct{})}
		c.w = newConnWriter(nc, c.done, func(error) { c.close() })
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

// Addr is the listening address ("" before Start/Serve).
func (s *SMSC) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, closes every connection and waits for them.
func (s *SMSC) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	ln := s.ln
	conns := make([]*smscConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	return nil
}

// Stats returns the counters.
func (s *SMSC) Stats() SMSCStats {
	return SMSCStats{
		Binds: s.stats.binds.Load(), Submits: s.stats.submits.Load(), Messages: s.stats.messages.Load(),
		Duplicates: s.stats.duplicates.Load(), Refused: s.stats.refused.Load(), Throttled: s.stats.throttled.Load(),
		Dropped: s.stats.dropped.Load(), ReceiptsSent: s.stats.sent.Load(), ReceiptsAcked: s.stats.acked.Load(),
		ReceiptsNacked: s.stats.nacked.Load(), MOSent: s.stats.mo.Load(),
	}
}

// PendingReceipts is how many receipts wait to be acknowledged.
func (s *SMSC) PendingReceipts() int {
	s.mu.Lock()
	qs := make([]*receiptQueue, 0, len(s.receipts))
	for _, q := range s.receipts {
		qs = append(qs, q)
	}
	s.mu.Unlock()
	n := 0
	for _, q := range qs {
		n += q.pending()
	}
	return n
}

// SendMO delivers a mobile-originated message from a handset to a bound
// receiver or transceiver of systemID and waits for its deliver_sm_resp.
func (s *SMSC) SendMO(ctx context.Context, systemID, from, to, text string) error {
	sp, err := SplitText(text)
	if err != nil {
		return err
	}
	if len(sp.Parts) > 1 {
		return fmt.Errorf("smpp: SendMO takes one part, the text needs %d", len(sp.Parts))
	}
	c := s.receiver(systemID, 0)
	if c == nil {
		return fmt.Errorf("smpp: no receiver bound as %q", systemID)
	}
	src, ton, npi := Addressing(from)
	resp, err := c.request(ctx, PDU{Header: Header{ID: DeliverSM}, Body: &SM{
		SourceTON: ton, SourceNPI: npi, Source: src, DestTON: 1, DestNPI: 1, Dest: strings.TrimPrefix(to, "+"),
		DataCoding: sp.DataCoding, ShortMessage: sp.Parts[0],
	}})
	if err != nil {
		return err
	}
	if resp.Status != ESME_ROK {
		return NewStatusError(resp.Status)
	}
	s.stats.mo.Add(1)
	return nil
}

// receiver picks a bound receiver/transceiver of systemID, rotating by n.
func (s *SMSC) receiver(systemID string, n int) *smscConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*smscConn
	for c := range s.conns {
		if c.systemID.Load() != nil && *c.systemID.Load() == systemID && c.receives.Load() && !c.isClosed() {
			list = append(list, c)
		}
	}
	if len(list) == 0 {
		return nil
	}
	return list[n%len(list)]
}

// smscConn is one ESME connection.
type smscConn struct {
	s        *SMSC
	conn     net.Conn
	systemID atomic.Pointer[string]
	receives atomic.Bool
	sends    atomic.Bool

	w *connWriter

	seq     atomic.Uint32
	pmu     sync.Mutex
	pending map[uint32]chan PDU

	once sync.Once
	done chan struct{}
}

func (c *smscConn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *smscConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.conn.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
}

func (c *smscConn) write(p PDU) error {
	b, err := AppendPDU(make([]byte, 0, 192), p)
	if err != nil {
		return err
	}
	if !c.w.send(b) {
		return net.ErrClosed
	}
	return nil
}

func (c *smscConn) request(ctx context.Context, p PDU) (PDU, error) {
	p.Seq = c.seq.Add(1) & 0x7FFFFFFF
	ch := make(chan PDU, 1)
	c.pmu.Lock()
	c.pending[p.Seq] = ch
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		delete(c.pending, p.Seq)
		c.pmu.Unlock()
	}()
	if err := c.write(p); err != nil {
		return PDU{}, err
	}
	t := time.NewTimer(smscResponseTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		return PDU{}, errors.New("smpp: connection closed before the response")
	case <-t.C:
		return PDU{}, errors.New("smpp: no response from the ESME")
	case <-ctx.Done():
		return PDU{}, ctx.Err()
	}
}

func (c *smscConn) reply(h Header, id, status uint32, body Body) {
	_ = c.write(PDU{Header: Header{ID: id, Status: status, Seq: h.Seq}, Body: body})
}

func (c *smscConn) serve() {
	defer c.close()
	br := bufio.NewReaderSize(c.conn, 16*1024)
	var buf []byte
	for {
		raw, err := ReadPDU(br, buf)
		if err != nil {
			if raw != nil {
				h, _ := DecodeHeader(raw)
				c.reply(h, GenericNack, ESME_RINVCMDLEN, nil)
			}
			return
		}
		buf = raw[:0]
		p, err := Decode(raw)
		if err != nil {
			c.s.log.Debug("smsc undecodable PDU", "err", err)
			if errors.Is(err, ErrUnknownCmd) {
				c.reply(p.Header, GenericNack, ESME_RINVCMDID, nil)
			} else if p.ID&respBit == 0 {
				c.reply(p.Header, GenericNack, ESME_RINVCMDLEN, nil)
			}
			continue
		}
		if p.ID&respBit != 0 {
			c.pmu.Lock()
			ch, ok := c.pending[p.Seq]
			c.pmu.Unlock()
			if ok {
				ch <- p
			}
			continue
		}
		bound := c.systemID.Load() != nil
		switch p.ID {
		case BindTransmitter, BindReceiver, BindTransceiver:
			c.bind(p)
		case EnquireLink:
			c.reply(p.Header, EnquireLinkResp, ESME_ROK, nil)
		case Unbind:
			if b, err := Encode(PDU{Header: Header{ID: UnbindResp, Seq: p.Seq}}); err == nil {
				c.w.closeAfter(b)
			}
			<-c.done
			return
		case SubmitSM:
			if !bound || !c.sends.Load() {
				c.reply(p.Header, SubmitSMResp, ESME_RINVBNDSTS, nil)
				continue
			}
			if !c.submit(p) {
				return
			}
		default:
			c.reply(p.Header, p.ID|respBit, ESME_RINVBNDSTS, nil)
		}
	}
}

func (c *smscConn) bind(p PDU) {
	b := p.Body.(*Bind)
	resp := p.ID | respBit
	if c.systemID.Load() != nil {
		c.reply(p.Header, resp, ESME_RALYBND, &BindResp{SystemID: c.s.cfg.SystemID})
		return
	}
	if len(c.s.cfg.Accounts) > 0 {
		pw, ok := c.s.cfg.Accounts[b.SystemID]
		if !ok {
			c.reply(p.Header, resp, ESME_RINVSYSID, &BindResp{SystemID: c.s.cfg.SystemID})
			return
		}
		if pw != b.Password {
			c.reply(p.Header, resp, ESME_RINVPASWD, &BindResp{SystemID: c.s.cfg.SystemID})
			return
		}
	}
	id := b.SystemID
	c.sends.Store(p.ID != BindReceiver)
	c.receives.Store(p.ID != BindTransmitter)
	c.systemID.Store(&id)
	c.s.stats.binds.Add(1)
	c.reply(p.Header, resp, ESME_ROK, &BindResp{SystemID: c.s.cfg.SystemID,
		TLVs: TLVs{Uint8TLV(TagSCInterfaceVersion, InterfaceVersion)}})
	if c.receives.Load() {
		c.s.queue(id).kick()
	}
	if d := c.s.cfg.DropAfter; d > 0 {
		time.AfterFunc(d, func() {
			if !c.isClosed() {
				c.s.stats.dropped.Add(1)
				c.close()
			}
		})
	}
}

// submit handles one submit_sm; false means the connection was dropped.
func (c *smscConn) submit(p PDU) bool {
	s := c.s
	sm := p.Body.(*SM)
	sys := *c.systemID.Load()
	if s.cfg.ThrottlePerSecond > 0 && !s.limiter(sys).Allow() {
		s.stats.throttled.Add(1)
		c.reply(p.Header, SubmitSMResp, ESME_RTHROTTLED, nil)
		return true
	}
	if sm.Dest == "" {
		c.reply(p.Header, SubmitSMResp, ESME_RINVDSTADR, nil)
		return true
	}
	rule := s.rule(sm.Dest)
	if rule.SubmitStatus != 0 {
		s.stats.refused.Add(1)
		c.reply(p.Header, SubmitSMResp, rule.SubmitStatus, nil)
		return true
	}
	payload := sm.ShortMessage
	concat := ""
	var ref uint16
	total, seq := 1, 1
	if pl, ok := sm.TLVs.Get(TagMessagePayload); ok {
		if len(sm.ShortMessage) > 0 {
			c.reply(p.Header, SubmitSMResp, ESME_RINVMSGLEN, nil) // both is invalid (spec 5.3.2.32)
			return true
		}
		payload, concat = pl, "payload"
	}
	if sm.ESMClass&ESMClassUDHI != 0 {
		u, ok, rest, err := ParseUDH(payload)
		if err != nil {
			c.reply(p.Header, SubmitSMResp, ESME_RINVMSGLEN, nil)
			return true
		}
		payload = rest
		if ok {
			concat, ref, total, seq = "udh", uint16(u.Ref), int(u.Total), int(u.Seq)
		}
	} else if r, ok := sm.TLVs.Uint(TagSARMsgRefNum); ok {
		t, _ := sm.TLVs.Uint(TagSARTotalSegments)
		q, _ := sm.TLVs.Uint(TagSARSegmentSeqnum)
		concat, ref, total, seq = "sar", uint16(r), int(t), int(q)
	}
	if total < 1 || seq < 1 || seq > total {
		c.reply(p.Header, SubmitSMResp, ESME_RINVOPTPARAMVAL, nil)
		return true
	}
	var our uuid.UUID
	if v, ok := sm.TLVs.Get(TagZiettMessageID); ok && len(v) == 16 {
		copy(our[:], v)
		s.mu.Lock()
		k := partKey{our, byte(seq)}
		if _, dup := s.seenParts[k]; dup {
			s.stats.duplicates.Add(1)
		} else {
			s.seenParts[k] = struct{}{}
		}
		s.mu.Unlock()
	}
	id := strconv.FormatUint(s.nextID.Add(1), 10)
	s.stats.submits.Add(1)
	text := DecodeText(sm.DataCoding, payload)
	if sm.RegisteredDelivery&0x03 != 0 && s.cfg.ReceiptDelay >= 0 {
		stat, errc := rule.Stat, rule.Err
		if stat == "" {
			stat = "DELIVRD"
		}
		if errc == "" {
			errc = "000"
		}
		now := time.Now()
		s.queue(sys).add(&pendingReceipt{due: now.Add(s.cfg.ReceiptDelay), sm: &SM{
			SourceTON: sm.DestTON, SourceNPI: sm.DestNPI, Source: sm.Dest,
			DestTON: sm.SourceTON, DestNPI: sm.SourceNPI, Dest: sm.Source,
			ESMClass:     ESMClassReceipt,
			ShortMessage: []byte(FormatReceiptText(id, stat, errc, now, now.Add(s.cfg.ReceiptDelay), text)),
			TLVs:         TLVs{CStringTLV(TagReceiptedMessageID, id), Uint8TLV(TagMessageState, statState(stat))},
		}})
	}
	msg := Message{SystemID: sys, Source: sm.Source, SourceTON: sm.SourceTON, SourceNPI: sm.SourceNPI,
		Dest: sm.Dest, DestTON: sm.DestTON, DestNPI: sm.DestNPI, DataCoding: sm.DataCoding,
		Concat: concat, Ref: our, RegisteredDelivery: sm.RegisteredDelivery}
	if concat == "udh" || concat == "sar" {
		c.s.reassemble(asmKey{sys, sm.Source, sm.Dest, ref}, msg, total, seq, payload, id)
	} else {
		msg.Text, msg.Parts, msg.MessageIDs = text, 1, []string{id}
		s.deliverMessage(msg)
	}
	if n := s.cfg.DropEvery; n > 0 && s.submitN.Add(1)%int64(n) == 0 {
		// Taken but never answered: the ESME cannot know it was.
		s.stats.dropped.Add(1)
		c.close()
		return false
	}
	c.reply(p.Header, SubmitSMResp, ESME_ROK, &SMResp{MessageID: id})
	return true
}

func (s *SMSC) deliverMessage(m Message) {
	s.stats.messages.Add(1)
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(m)
	}
}

// reassemble collects the parts of one concatenated message; the text is
// decoded once all parts are in.
func (s *SMSC) reassemble(k asmKey, m Message, total, seq int, payload []byte, id string) {
	s.mu.Lock()
	a := s.assembly[k]
	if a == nil || len(a.parts) != total {
		a = &assembly{msg: m, parts: make([][]byte, total), ids: make([]string, total)}
		s.assembly[k] = a
	}
	if a.parts[seq-1] == nil {
		a.got++
	}
	a.parts[seq-1] = payload
	a.ids[seq-1] = id
	if a.got < total {
		s.mu.Unlock()
		return
	}
	delete(s.assembly, k)
	s.mu.Unlock()
	var whole []byte
	for _, p := range a.parts {
		whole = append(whole, p...)
	}
	a.msg.Text, a.msg.Parts, a.msg.MessageIDs = DecodeText(a.msg.DataCoding, whole), total, a.ids
	s.deliverMessage(a.msg)
}

func (s *SMSC) rule(dest string) OutcomeRule {
	for _, r := range s.cfg.Rules {
		if strings.HasSuffix(dest, r.Suffix) {
			return r
		}
	}
	return OutcomeRule{}
}

func (s *SMSC) limiter(sys string) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limiters[sys]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.cfg.ThrottlePerSecond), max(1, int(s.cfg.ThrottlePerSecond/10)))
		s.limiters[sys] = l
	}
	return l
}

// receiptQueue holds one account's receipts until acknowledged; a worker
// sends those due, a window of them at a time, spread over the account's
// receivers.
type receiptQueue struct {
	s        *SMSC
	sys      string
	mu       sync.Mutex
	waiting  receiptHeap // by due time
	inFlight int
	wake     chan struct{}
	work     chan receiptJob
}

type receiptJob struct {
	c *smscConn
	r *pendingReceipt
}

type pendingReceipt struct {
	due time.Time
	sm  *SM
}

type receiptHeap []*pendingReceipt

func (h receiptHeap) Len() int           { return len(h) }
func (h receiptHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h receiptHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *receiptHeap) Push(x any)        { *h = append(*h, x.(*pendingReceipt)) }
func (h *receiptHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

func (s *SMSC) queue(sys string) *receiptQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.receipts[sys]
	if q == nil {
		q = &receiptQueue{s: s, sys: sys, wake: make(chan struct{}, 1)}
		s.receipts[sys] = q
		if !s.closed {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				q.run()
			}()
		}
	}
	return q
}

func (q *receiptQueue) add(r *pendingReceipt) {
	q.mu.Lock()
	heap.Push(&q.waiting, r)
	q.mu.Unlock()
	q.kick()
}

func (q *receiptQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting) + q.inFlight
}

func (q *receiptQueue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// smscResponseTimeout bounds the wait for a deliver_sm_resp.
const smscResponseTimeout = 10 * time.Second

// receiptWindow bounds receipts awaiting deliver_sm_resp per account.
const receiptWindow = 256

func (q *receiptQueue) run() {
	q.work = make(chan receiptJob, receiptWindow)
	for i := 0; i < receiptWindow; i++ {
		go func() {
			for {
				select {
				case j := <-q.work:
					q.send(j.c, j.r)
				case <-q.s.stop:
					return
				}
			}
		}()
	}
	n := 0
	for {
		// Take what is due, up to the window.
		now := time.Now()
		var due []*pendingReceipt
		wait := time.Hour
		q.mu.Lock()
		for len(q.waiting) > 0 && q.inFlight < receiptWindow {
			r := q.waiting[0]
			if r.due.After(now) {
				wait = r.due.Sub(now)
				break
			}
			heap.Pop(&q.waiting)
			q.inFlight++
			due = append(due, r)
		}
		q.mu.Unlock()
		for _, r := range due {
			c := q.s.receiver(q.sys, n)
			n++
			if c == nil {
				q.done(r, false)
				continue
			}
			q.work <- receiptJob{c, r} // never blocks: at most receiptWindow are in flight
		}
		t := time.NewTimer(wait)
		select {
		case <-q.s.stop:
			t.Stop()
			return
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// done finishes one attempt: an acknowledged receipt is forgotten, any
// other is due again after ReceiptRetry.
func (q *receiptQueue) done(r *pendingReceipt, acked bool) {
	q.mu.Lock()
	q.inFlight--
	if !acked {
		r.due = time.Now().Add(q.s.cfg.ReceiptRetry)
		heap.Push(&q.waiting, r)
	}
	q.mu.Unlock()
	q.kick()
}

func (q *receiptQueue) send(c *smscConn, r *pendingReceipt) {
	q.s.stats.sent.Add(1)
	resp, err := c.request(context.Background(), PDU{Header: Header{ID: DeliverSM}, Body: r.sm})
	if err != nil || resp.Status != ESME_ROK || resp.ID != DeliverSMResp {
		if err == nil {
			q.s.stats.nacked.Add(1)
		}
		q.done(r, false)
		return
	}
	q.s.stats.acked.Add(1)
	q.done(r, true)
}

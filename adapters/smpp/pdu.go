// Package smpp speaks SMPP v3.4 to operators and aggregators: the PDU codec,
// GSM-7 / UCS-2 coding and concatenation, an ESME client that keeps binds up,
// and an SMSC simulator. It is written from the SMPP v3.4 specification
// (Issue 1.2, 12 October 1999); no SMPP library is used. It knows nothing of
// the rest of the service: callers give it texts and get message ids and
// deliveries back.
package smpp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Command ids (spec 5.1.2.1).
const (
	GenericNack         uint32 = 0x80000000
	BindReceiver        uint32 = 0x00000001
	BindReceiverResp    uint32 = 0x80000001
	BindTransmitter     uint32 = 0x00000002
	BindTransmitterResp uint32 = 0x80000002
	SubmitSM            uint32 = 0x00000004
	SubmitSMResp        uint32 = 0x80000004
	DeliverSM           uint32 = 0x00000005
	DeliverSMResp       uint32 = 0x80000005
	Unbind              uint32 = 0x00000006
	UnbindResp          uint32 = 0x80000006
	BindTransceiver     uint32 = 0x00000009
	BindTransceiverResp uint32 = 0x80000009
	EnquireLink         uint32 = 0x00000015
	EnquireLinkResp     uint32 = 0x80000015
)

// respBit marks a response command id.
const respBit uint32 = 0x80000000

// HeaderLen is the size of the PDU header; MaxPDULen bounds what the decoder
// accepts (a submit_sm with a full message_payload stays well below it).
const (
	HeaderLen = 16
	MaxPDULen = 64 * 1024
)

// InterfaceVersion is the interface_version sent in binds: 0x34 for v3.4.
const InterfaceVersion byte = 0x34

// CommandName names a command id, for logs and errors.
func CommandName(id uint32) string {
	switch id {
	case GenericNack:
		return "generic_nack"
	case BindReceiver:
		return "bind_receiver"
	case BindReceiverResp:
		return "bind_receiver_resp"
	case BindTransmitter:
		return "bind_transmitter"
	case BindTransmitterResp:
		return "bind_transmitter_resp"
	case SubmitSM:
		return "submit_sm"
	case SubmitSMResp:
		return "submit_sm_resp"
	case DeliverSM:
		return "deliver_sm"
	case DeliverSMResp:
		return "deliver_sm_resp"
	case Unbind:
		return "unbind"
	case UnbindResp:
		return "unbind_resp"
	case BindTransceiver:
		return "bind_transceiver"
	case BindTransceiverResp:
		return "bind_transceiver_resp"
	case EnquireLink:
		return "enquire_link"
	case EnquireLinkResp:
		return "enquire_link_resp"
	}
	return fmt.Sprintf("command_0x%08X", id)
}

// Header is the 16-octet PDU header (spec 3.2). Length is filled in by the
// encoder and checked by the decoder.
type Header struct {
	Length uint32
	ID     uint32
	Status uint32
	Seq    uint32
}

// PDU is one decoded protocol data unit. Body is one of *Bind, *BindResp,
// *SM (submit_sm and deliver_sm share their layout), *SMResp, or nil for the
// commands without a body (unbind, enquire_link, their responses and
// generic_nack).
type PDU struct {
	Header
	Body Body
}

// Body is a PDU body.
type Body interface {
	appendTo(b []byte) ([]byte, error)
	decode(r *reader) error
}

// Bind is the body of bind_transmitter, bind_receiver and bind_transceiver
// (spec 4.1.1).
type Bind struct {
	SystemID         string // max 15 octets + NULL
	Password         string // max 8
	SystemType       string // max 12
	InterfaceVersion byte
	AddrTON, AddrNPI byte
	AddressRange     string // max 40
}

// BindResp is the body of the bind responses (spec 4.1.2): the SMSC's id
// and optional TLVs (sc_interface_version). An error response may omit it.
type BindResp struct {
	SystemID string
	TLVs     TLVs
}

// SM is the body of submit_sm (spec 4.4.1) and deliver_sm (4.6.1).
type SM struct {
	ServiceType          string // max 5
	SourceTON, SourceNPI byte
	Source               string // max 20
	DestTON, DestNPI     byte
	Dest                 string // max 20
	ESMClass             byte
	ProtocolID           byte
	PriorityFlag         byte
	ScheduleDeliveryTime string // empty or 16 chars
	ValidityPeriod       string // empty or 16 chars
	RegisteredDelivery   byte
	ReplaceIfPresent     byte
	DataCoding           byte
	SMDefaultMsgID       byte
	ShortMessage         []byte // max 254 octets
	TLVs                 TLVs
}

// SMResp is the body of submit_sm_resp (message_id, spec 4.4.2) and
// deliver_sm_resp (message_id unused, a single NULL). A submit_sm_resp with a
// non-zero status may have no body at all; it decodes to an empty SMResp.
type SMResp struct {
	MessageID string // max 64
}

// Field size limits, including the terminating NULL (spec chapter 4).
const (
	maxSystemID    = 16
	maxPassword    = 9
	maxSystemType  = 13
	maxAddrRange   = 41
	maxServiceType = 6
	maxAddr        = 21
	maxTime        = 17
	maxMessageID   = 65
	maxShortMsg    = 254
)

// Errors the decoder reports. Each is wrapped with detail.
var (
	ErrShortPDU   = errors.New("smpp: PDU shorter than its header says")
	ErrBadLength  = errors.New("smpp: invalid command_length")
	ErrBadField   = errors.New("smpp: invalid field")
	ErrUnknownCmd = errors.New("smpp: unknown command_id")
)

// NewBody returns an empty body for a command id, or nil for commands
// without one. ok is false for command ids this package does not know.
func NewBody(id uint32) (b Body, ok bool) {
	switch id {
	case BindReceiver, BindTransmitter, BindTransceiver:
		return &Bind{}, true
	case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		return &BindResp{}, true
	case SubmitSM, DeliverSM:
		return &SM{}, true
	case SubmitSMResp, DeliverSMResp:
		return &SMResp{}, true
	case Unbind, UnbindResp, EnquireLink, EnquireLinkResp, GenericNack:
		return nil, true
	}
	return nil, false
}

// AppendPDU encodes p (its Length is ignored and computed) after dst.
func AppendPDU(dst []byte, p PDU) ([]byte, error) {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, p.ID)
	dst = binary.BigEndian.AppendUint32(dst, p.Status)
	dst = binary.BigEndian.AppendUint32(dst, p.Seq)
	if p.Body != nil {
		var err error
		if dst, err = p.Body.appendTo(dst); err != nil {
			return dst[:start], fmt.Errorf("%s: %w", CommandName(p.ID), err)
		}
	}
	n := len(dst) - start
	if n > MaxPDULen {
		return dst[:start], fmt.Errorf("%s: %w: %d octets", CommandName(p.ID), ErrBadLength, n)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// Encode encodes p into a new slice.
func Encode(p PDU) ([]byte, error) { return AppendPDU(nil, p) }

// DecodeHeader reads the header at the start of b.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: %d octets", ErrShortPDU, len(b))
	}
	h := Header{
		Length: binary.BigEndian.Uint32(b),
		ID:     binary.BigEndian.Uint32(b[4:]),
		Status: binary.BigEndian.Uint32(b[8:]),
		Seq:    binary.BigEndian.Uint32(b[12:]),
	}
	if h.Length < HeaderLen || h.Length > MaxPDULen {
		return h, fmt.Errorf("%w: %d", ErrBadLength, h.Length)
	}
	return h, nil
}

// Decode decodes one whole PDU; b must be exactly command_length octets.
// An unknown command id returns the header and an error wrapping
// ErrUnknownCmd, so the caller can answer generic_nack with its sequence
// number.
func Decode(b []byte) (PDU, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return PDU{Header: h}, err
	}
	if int(h.Length) != len(b) {
		return PDU{Header: h}, fmt.Errorf("%w: command_length %d, have %d", ErrBadLength, h.Length, len(b))
	}
	p := PDU{Header: h}
	body, ok := NewBody(h.ID)
	if !ok {
		return p, fmt.Errorf("%w: 0x%08X", ErrUnknownCmd, h.ID)
	}
	rest := b[HeaderLen:]
	if body == nil {
		// Commands without a body: tolerate nothing else.
		if len(rest) != 0 {
			return p, fmt.Errorf("%s: %w: %d unexpected body octets", CommandName(h.ID), ErrBadLength, len(rest))
		}
		return p, nil
	}
	if len(rest) == 0 && h.Status != 0 && h.ID&respBit != 0 {
		// Spec 4.4.2 and 4.1.2: an error response may carry no body.
		p.Body = body
		return p, nil
	}
	r := &reader{b: rest}
	if err := body.decode(r); err != nil {
		return p, fmt.Errorf("%s: %w", CommandName(h.ID), err)
	}
	p.Body = body
	return p, nil
}

// ReadPDU reads one PDU from r into buf (grown as needed) and returns the
// PDU's octets. It does not decode the body.
func ReadPDU(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < HeaderLen {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:HeaderLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	h, err := DecodeHeader(buf)
	if err != nil {
		return buf, err
	}
	if int(h.Length) > cap(buf) {
		nb := make([]byte, h.Length)
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:h.Length]
	if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// reader walks a body.
type reader struct {
	b   []byte
	off int
}

func (r *reader) byte(name string) (byte, error) {
	if r.off >= len(r.b) {
		return 0, fmt.Errorf("%w: %s missing", ErrBadField, name)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// cstring reads a C-Octet String of at most max octets including its NULL.
func (r *reader) cstring(name string, max int) (string, error) {
	for i := r.off; i < len(r.b); i++ {
		if r.b[i] == 0 {
			if i-r.off+1 > max {
				return "", fmt.Errorf("%w: %s longer than %d octets", ErrBadField, name, max-1)
			}
			s := string(r.b[r.off:i])
			r.off = i + 1
			return s, nil
		}
		if i-r.off+1 >= max {
			break
		}
	}
	return "", fmt.Errorf("%w: %s not NULL-terminated within %d octets", ErrBadField, name, max)
}

func appendCString(b []byte, name, s string, max int) ([]byte, error) {
	if len(s) > max-1 {
		return b, fmt.Errorf("%w: %s %q longer than %d octets", ErrBadField, name, s, max-1)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return b, fmt.Errorf("%w: %s contains NULL", ErrBadField, name)
		}
	}
	b = append(b, s...)
	return append(b, 0), nil
}

func (m *Bind) appendTo(b []byte) ([]byte, error) {
	var err error
	if b, err = appendCString(b, "system_id", m.SystemID, maxSystemID); err != nil {
		return b, err
	}
	if b, err = appendCString(b, "password", m.Password, maxPassword); err != nil {
		return b, err
	}
	if b, err = appendCString(b, "system_type", m.SystemType, maxSystemType); err != nil {
		return b, err
	}
	b = append(b, m.InterfaceVersion, m.AddrTON, m.AddrNPI)
	return appendCString(b, "address_range", m.AddressRange, maxAddrRange)
}

func (m *Bind) decode(r *reader) error {
	var err error
	if m.SystemID, err = r.cstring("system_id", maxSystemID); err != nil {
		return err
	}
	if m.Password, err = r.cstring("password", maxPassword); err != nil {
		return err
	}
	if m.SystemType, err = r.cstring("system_type", maxSystemType); err != nil {
		return err
	}
	if m.InterfaceVersion, err = r.byte("interface_version"); err != nil {
		return err
	}
	if m.AddrTON, err = r.byte("addr_ton"); err != nil {
		return err
	}
	if m.AddrNPI, err = r.byte("addr_npi"); err != nil {
		return err
	}
	if m.AddressRange, err = r.cstring("address_range", maxAddrRange); err != nil {
		return err
	}
	return r.end()
}

// end accepts nothing after the mandatory fields of a body without TLVs.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %d octets after the last field", ErrBadLength, len(r.b)-r.off)
	}
	return nil
}

func (m *BindResp) appendTo(b []byte) ([]byte, error) {
	b, err := appendCString(b, "system_id", m.SystemID, maxSystemID)
	if err != nil {
		return b, err
	}
	return m.TLVs.appendTo(b)
}

func (m *BindResp) decode(r *reader) error {
	var err error
	if m.SystemID, err = r.cstring("system_id", maxSystemID); err != nil {
		return err
	}
	m.TLVs, err = decodeTLVs(r)
	return err
}

func (m *SM) appendTo(b []byte) ([]byte, error) {
	var err error
	if b, err = appendCString(b, "service_type", m.ServiceType, maxServiceType); err != nil {
		return b, err
	}
	b = append(b, m.SourceTON, m.SourceNPI)
	if b, err = appendCString(b, "source_addr", m.Source, maxAddr); err != nil {
		return b, err
	}
	b = append(b, m.DestTON, m.DestNPI)
	if b, err = appendCString(b, "destination_addr", m.Dest, maxAddr); err != nil {
		return b, err
	}
	b = append(b, m.ESMClass, m.ProtocolID, m.PriorityFlag)
	for _, f := range []struct{ name, v string }{{"schedule_delivery_time", m.ScheduleDeliveryTime}, {"validity_period", m.ValidityPeriod}} {
		if f.v != "" && len(f.v) != maxTime-1 {
			return b, fmt.Errorf("%w: %s must be empty or 16 characters", ErrBadField, f.name)
		}
		if b, err = appendCString(b, f.name, f.v, maxTime); err != nil {
			return b, err
		}
	}
	if len(m.ShortMessage) > maxShortMsg {
		return b, fmt.Errorf("%w: short_message of %d octets (max %d; use message_payload)", ErrBadField, len(m.ShortMessage), maxShortMsg)
	}
	b = append(b, m.RegisteredDelivery, m.ReplaceIfPresent, m.DataCoding, m.SMDefaultMsgID, byte(len(m.ShortMessage)))
	b = append(b, m.ShortMessage...)
	return m.TLVs.appendTo(b)
}

func (m *SM) decode(r *reader) error {
	var err error
	if m.ServiceType, err = r.cstring("service_type", maxServiceType); err != nil {
		return err
	}
	if m.SourceTON, err = r.byte("source_addr_ton"); err != nil {
		return err
	}
	if m.SourceNPI, err = r.byte("source_addr_npi"); err != nil {
		return err
	}
	if m.Source, err = r.cstring("source_addr", maxAddr); err != nil {
		return err
	}
	if m.DestTON, err = r.byte("dest_addr_ton"); err != nil {
		return err
	}
	if m.DestNPI, err = r.byte("dest_addr_npi"); err != nil {
		return err
	}
	if m.Dest, err = r.cstring("destination_addr", maxAddr); err != nil {
		return err
	}
	if m.ESMClass, err = r.byte("esm_class"); err != nil {
		return err
	}
	if m.ProtocolID, err = r.byte("protocol_id"); err != nil {
		return err
	}
	if m.PriorityFlag, err = r.byte("priority_flag"); err != nil {
		return err
	}
	if m.ScheduleDeliveryTime, err = r.cstring("schedule_delivery_time", maxTime); err != nil {
		return err
	}
	if m.ValidityPeriod, err = r.cstring("validity_period", maxTime); err != nil {
		return err
	}
	if m.RegisteredDelivery, err = r.byte("registered_delivery"); err != nil {
		return err
	}
	if m.ReplaceIfPresent, err = r.byte("replace_if_present_flag"); err != nil {
		return err
	}
	if m.DataCoding, err = r.byte("data_coding"); err != nil {
		return err
	}
	if m.SMDefaultMsgID, err = r.byte("sm_default_msg_id"); err != nil {
		return err
	}
	n, err := r.byte("sm_length")
	if err != nil {
		return err
	}
	if int(n) > maxShortMsg {
		return fmt.Errorf("%w: sm_length %d over %d", ErrBadField, n, maxShortMsg)
	}
	if r.off+int(n) > len(r.b) {
		return fmt.Errorf("%w: short_message of %d octets, %d left", ErrBadField, n, len(r.b)-r.off)
	}
	m.ShortMessage = append([]byte(nil), r.b[r.off:r.off+int(n)]...)
	r.off += int(n)
	m.TLVs, err = decodeTLVs(r)
	return err
}

func (m *SMResp) appendTo(b []byte) ([]byte, error) {
	return appendCString(b, "message_id", m.MessageID, maxMessageID)
}

func (m *SMResp) decode(r *reader) error {
	var err error
	if m.MessageID, err = r.cstring("message_id", maxMessageID); err != nil {
		return err
	}
	// Some SMSCs add TLVs to responses (a v5.0 habit); skip them.
	_, err = decodeTLVs(r)
	return err
}

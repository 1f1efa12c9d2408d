package smpp

import (
	"encoding/binary"
	"fmt"
)

// Optional parameter tags used here (spec 5.3.2). Unknown tags are kept as
// they are and ignored, as the spec asks of a receiver.
const (
	TagSCInterfaceVersion  uint16 = 0x0210
	TagReceiptedMessageID  uint16 = 0x001E
	TagMessageState        uint16 = 0x0427
	TagNetworkErrorCode    uint16 = 0x0423
	TagSARMsgRefNum        uint16 = 0x020C
	TagSARTotalSegments    uint16 = 0x020E
	TagSARSegmentSeqnum    uint16 = 0x020F
	TagMessagePayload      uint16 = 0x0424
	TagUserMessageRef      uint16 = 0x0204
	TagSourcePort          uint16 = 0x020A
	TagDestinationPort     uint16 = 0x020B
	TagMoreMessagesToSend  uint16 = 0x0426
	TagPayloadType         uint16 = 0x0019
	TagReceiptMessageState        = TagMessageState

	// TagZiettMessageID carries our own 16-octet message id (a UUID) in the
	// vendor-specific range 0x1400-0x3FFF, so an SMSC that knows it can
	// count or drop duplicates; other peers ignore it.
	TagZiettMessageID uint16 = 0x1501
)

// message_state values (spec 5.2.28).
const (
	StateEnroute       byte = 1
	StateDelivered     byte = 2
	StateExpired       byte = 3
	StateDeleted       byte = 4
	StateUndeliverable byte = 5
	StateAccepted      byte = 6
	StateUnknown       byte = 7
	StateRejected      byte = 8
)

// StateName gives a message_state's name as the spec spells it.
func StateName(s byte) string {
	switch s {
	case StateEnroute:
		return "ENROUTE"
	case StateDelivered:
		return "DELIVERED"
	case StateExpired:
		return "EXPIRED"
	case StateDeleted:
		return "DELETED"
	case StateUndeliverable:
		return "UNDELIVERABLE"
	case StateAccepted:
		return "ACCEPTED"
	case StateUnknown:
		return "UNKNOWN"
	case StateRejected:
		return "REJECTED"
	}
	return fmt.Sprintf("STATE_%d", s)
}

// TLV is one optional parameter: tag, and value (its length is len(Value)).
type TLV struct {
	Tag   uint16
	Value []byte
}

// TLVs is a PDU's optional parameters in wire order.
type TLVs []TLV

// Get returns the first value with tag, and whether there was one.
func (t TLVs) Get(tag uint16) ([]byte, bool) {
	for _, v := range t {
		if v.Tag == tag {
			return v.Value, true
		}
	}
	return nil, false
}

// String returns a C-Octet-String value without its NULL (tolerating
// peers that leave the NULL out).
func (t TLVs) String(tag uint16) (string, bool) {
	v, ok := t.Get(tag)
	if !ok {
		return "", false
	}
	for i, c := range v {
		if c == 0 {
			return string(v[:i]), true
		}
	}
	return string(v), true
}

// Uint returns a 1-, 2- or 4-octet integer value.
func (t TLVs) Uint(tag uint16) (uint32, bool) {
	v, ok := t.Get(tag)
	if !ok {
		return 0, false
	}
	switch len(v) {
	case 1:
		return uint32(v[0]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(v)), true
	case 4:
		return binary.BigEndian.Uint32(v), true
	}
	return 0, false
}

// Uint8TLV, Uint16TLV and CStringTLV build values.
func Uint8TLV(tag uint16, v byte) TLV { return TLV{Tag: tag, Value: []byte{v}} }

func Uint16TLV(tag uint16, v uint16) TLV {
	return TLV{Tag: tag, Value: binary.BigEndian.AppendUint16(nil, v)}
}

func CStringTLV(tag uint16, s string) TLV {
	return TLV{Tag: tag, Value: append([]byte(s), 0)}
}

func (t TLVs) appendTo(b []byte) ([]byte, error) {
	for _, v := range t {
		if len(v.Value) > 0xFFFF {
			return b, fmt.Errorf("%w: TLV 0x%04X of %d octets", ErrBadField, v.Tag, len(v.Value))
		}
		b = binary.BigEndian.AppendUint16(b, v.Tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v.Value)))
		b = append(b, v.Value...)
	}
	return b, nil
}

func decodeTLVs(r *reader) (TLVs, error) {
	var out TLVs
	for r.off < len(r.b) {
		if len(r.b)-r.off < 4 {
			return out, fmt.Errorf("%w: %d stray octets where a TLV header belongs", ErrBadField, len(r.b)-r.off)
		}
		tag := binary.BigEndian.Uint16(r.b[r.off:])
		n := int(binary.BigEndian.Uint16(r.b[r.off+2:]))
		r.off += 4
		if r.off+n > len(r.b) {
			return out, fmt.Errorf("%w: TLV 0x%04X says %d octets, %d left", ErrBadField, tag, n, len(r.b)-r.off)
		}
		out = append(out, TLV{Tag: tag, Value: append([]byte(nil), r.b[r.off:r.off+n]...)})
		r.off += n
	}
	return out, nil
}

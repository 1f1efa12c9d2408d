package smpp

import (
	"fmt"
	"strings"
	"time"
)

// Delivery is one deliver_sm from the SMSC: a delivery receipt or a
// mobile-originated message, exactly one of the two set.
type Delivery struct {
	Receipt *Receipt
	MO      *Inbound
	// Bind is the index of the bind it arrived on (receipts may arrive on
	// any bind, not the one that submitted).
	Bind int
	// PDU is the decoded deliver_sm, for fields this package does not read.
	PDU *SM
}

// Receipt is a delivery receipt (esm_class bit 0x04). MessageID is the
// SMSC's id of one submitted part: the receipted_message_id TLV when
// present, else the text's id. Stat and Err are the text form's fields as
// sent (DELIVRD, UNDELIV, EXPIRED, REJECTD, …; err is usually three digits);
// when the text has no stat, Stat is derived from the message_state TLV.
type Receipt struct {
	MessageID string
	Stat      string
	Err       string
	Submitted time.Time // "submit date", UTC; zero if absent or unreadable
	Done      time.Time // "done date"
	Sub       string
	Dlvrd     string
	Text      string
	// State is the message_state TLV (StateDelivered, …), 0 when absent.
	State byte
	// NetworkErrorCode is the network_error_code TLV (type, 2-octet
	// code), nil when absent.
	NetworkErrorCode []byte
	// Source is the handset's number (the deliver_sm's source_addr),
	// Dest our sender (its destination_addr).
	Source, Dest string
	// Raw is the receipt's text as received.
	Raw string
}

// Inbound is a mobile-originated message.
type Inbound struct {
	From, To   string
	Text       string
	DataCoding byte
	// Concat is set when the message is one part of a longer one (UDH or
	// SAR); the caller reassembles by (From, To, Ref).
	Concat *UDH
}

// stateStat maps message_state to the text form's stat.
func stateStat(s byte) string {
	switch s {
	case StateEnroute:
		return "ENROUTE"
	case StateDelivered:
		return "DELIVRD"
	case StateExpired:
		return "EXPIRED"
	case StateDeleted:
		return "DELETED"
	case StateUndeliverable:
		return "UNDELIV"
	case StateAccepted:
		return "ACCEPTD"
	case StateRejected:
		return "REJECTD"
	}
	return "UNKNOWN"
}

// ESMClassReceipt is the message type bits of esm_class for an SMSC
// delivery receipt (spec 5.2.12); ESMClassUDHI marks a UDH in short_message.
const (
	ESMClassReceipt byte = 0x04
	ESMClassUDHI    byte = 0x40
	esmTypeMask     byte = 0x3C
)

// IsReceipt reports whether a deliver_sm's esm_class says it is a delivery
// receipt (or an intermediate notification, 0x20, reported the same way).
func IsReceipt(esm byte) bool {
	t := esm & esmTypeMask
	return t == ESMClassReceipt || t == 0x20
}

// ParseDelivery reads a deliver_sm body.
func ParseDelivery(sm *SM) (Delivery, error) {
	d := Delivery{PDU: sm}
	text, udh, err := smText(sm)
	if err != nil {
		return d, err
	}
	if IsReceipt(sm.ESMClass) {
		r := ParseReceiptText(text)
		r.Source, r.Dest = sm.Source, sm.Dest
		if id, ok := sm.TLVs.String(TagReceiptedMessageID); ok && id != "" {
			r.MessageID = id
		}
		if st, ok := sm.TLVs.Uint(TagMessageState); ok {
			r.State = byte(st)
			if r.Stat == "" {
				r.Stat = stateStat(r.State)
			}
		}
		if v, ok := sm.TLVs.Get(TagNetworkErrorCode); ok {
			r.NetworkErrorCode = v
		}
		if r.MessageID == "" {
			return d, fmt.Errorf("smpp: receipt without a message id: %q", text)
		}
		if r.Stat == "" {
			return d, fmt.Errorf("smpp: receipt for %s without stat or message_state", r.MessageID)
		}
		d.Receipt = &r
		return d, nil
	}
	d.MO = &Inbound{From: sm.Source, To: sm.Dest, Text: text, DataCoding: sm.DataCoding, Concat: udh}
	return d, nil
}

// smText decodes a deliver_sm's text from short_message or message_payload,
// stripping a UDH and reading SAR TLVs.
func smText(sm *SM) (string, *UDH, error) {
	b := sm.ShortMessage
	if p, ok := sm.TLVs.Get(TagMessagePayload); ok && len(b) == 0 {
		b = p
	}
	var udh *UDH
	if sm.ESMClass&ESMClassUDHI != 0 {
		u, ok, rest, err := ParseUDH(b)
		if err != nil {
			return "", nil, err
		}
		if ok {
			udh = &u
		}
		b = rest
	} else if ref, ok := sm.TLVs.Uint(TagSARMsgRefNum); ok {
		total, _ := sm.TLVs.Uint(TagSARTotalSegments)
		seq, _ := sm.TLVs.Uint(TagSARSegmentSeqnum)
		udh = &UDH{Ref: byte(ref), Total: byte(total), Seq: byte(seq)}
	}
	return DecodeText(sm.DataCoding, b), udh, nil
}

// receiptKeys are the fields of the text form (spec appendix B), longest
// first so "submit date" is not read as something else.
var receiptKeys = []string{"submit date", "done date", "id", "sub", "dlvrd", "stat", "err", "text"}

// ParseReceiptText reads the receipt text form
// "id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
// stat:DDDDDDD err:E text:…". Keys are matched case-insensitively, fields
// may be missing or reordered, and dates of 10 or 12 digits (with seconds)
// are read as UTC. Raw keeps the text.
func ParseReceiptText(s string) Receipt {
	r := Receipt{Raw: s}
	type hit struct {
		key        string
		start, val int
	}
	hits := make([]hit, 0, 8)
scan:
	for i := 0; i < len(s); i++ {
		if i > 0 && s[i-1] != ' ' {
			continue
		}
		for _, k := range receiptKeys {
			if len(s)-i > len(k) && s[i+len(k)] == ':' && strings.EqualFold(s[i:i+len(k)], k) {
				hits = append(hits, hit{k, i, i + len(k) + 1})
				if k == "text" { // the rest is the message's text
					break scan
				}
				i += len(k)
				break
			}
		}
	}
	for n, h := range hits {
		end := len(s)
		if n+1 < len(hits) {
			end = hits[n+1].start
		}
		v := s[h.val:end]
		if h.key != "text" {
			v = strings.TrimSpace(v)
		} else {
			v = strings.TrimRight(v, " ")
		}
		switch h.key {
		case "id":
			r.MessageID = v
		case "sub":
			r.Sub = v
		case "dlvrd":
			r.Dlvrd = v
		case "submit date":
			r.Submitted = parseReceiptDate(v)
		case "done date":
			r.Done = parseReceiptDate(v)
		case "stat":
			r.Stat = strings.ToUpper(v)
		case "err":
			r.Err = v
		case "text":
			r.Text = v
		}
	}
	return r
}

func parseReceiptDate(v string) time.Time {
	for _, c := range v {
		if c < '0' || c > '9' {
			return time.Time{}
		}
	}
	var layout string
	switch len(v) {
	case 10:
		layout = "0601021504"
	case 12:
		layout = "060102150405"
	default:
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, v, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}

// FormatReceiptText builds the text form an SMSC sends, as the spec's
// appendix B lays it out; text carries the first 20 characters.
func FormatReceiptText(id, stat, errCode string, submitted, done time.Time, text string) string {
	dlvrd := "000"
	if stat == "DELIVRD" {
		dlvrd = "001"
	}
	if len([]rune(text)) > 20 {
		text = string([]rune(text)[:20])
	}
	return "id:" + id + " sub:001 dlvrd:" + dlvrd +
		" submit date:" + submitted.UTC().Format("0601021504") +
		" done date:" + done.UTC().Format("0601021504") +
		" stat:" + stat + " err:" + errCode + " text:" + text
}

// statState maps a stat to message_state.
func statState(stat string) byte {
	switch stat {
	case "DELIVRD":
		return StateDelivered
	case "EXPIRED":
		return StateExpired
	case "DELETED":
		return StateDeleted
	case "UNDELIV":
		return StateUndeliverable
	case "ACCEPTD":
		return StateAccepted
	case "REJECTD":
		return StateRejected
	case "ENROUTE":
		return StateEnroute
	}
	return StateUnknown
}

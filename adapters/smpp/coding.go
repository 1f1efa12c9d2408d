package smpp

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"ziett.co/campaigns/domain/sms"
)

// data_coding values (spec 5.2.19) this package reads and writes.
const (
	CodingDefault byte = 0x00 // SMSC default alphabet: GSM 03.38, one septet per octet
	CodingIA5     byte = 0x01 // IA5 (CCITT T.50) / ASCII
	CodingLatin1  byte = 0x03 // ISO-8859-1
	CodingUCS2    byte = 0x08 // UCS-2, sent as UTF-16BE
)

// gsmEscape is the septet that switches to the extension table.
const gsmEscape = 0x1B

// gsmBasic is the GSM 03.38 default alphabet by septet value; 0x1B is the
// escape and has no character of its own.
var gsmBasic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExtension is the extension table: septet after the escape → character.
var gsmExtension = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
	0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
}

var (
	gsmBasicIndex = func() map[rune]byte {
		m := make(map[rune]byte, 128)
		for i, r := range gsmBasic {
			if i != gsmEscape {
				m[r] = byte(i)
			}
		}
		return m
	}()
	gsmExtIndex = func() map[rune]byte {
		m := make(map[rune]byte, len(gsmExtension))
		for k, r := range gsmExtension {
			m[r] = k
		}
		return m
	}()
)

// gsmSeptets returns r's septets (one, or escape + one), or nil if r is not
// in GSM 03.38.
func gsmAppend(b []byte, r rune) ([]byte, bool) {
	if c, ok := gsmBasicIndex[r]; ok {
		return append(b, c), true
	}
	if c, ok := gsmExtIndex[r]; ok {
		return append(b, gsmEscape, c), true
	}
	return b, false
}

// EncodeGSM7 encodes s in the GSM 03.38 default alphabet, one septet per
// octet (unpacked, as data_coding 0 over SMPP carries it), extension
// characters as 0x1B and their code.
func EncodeGSM7(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i, r := range s {
		var ok bool
		if out, ok = gsmAppend(out, r); !ok {
			return nil, fmt.Errorf("smpp: %q at byte %d is not in the GSM 03.38 alphabet", r, i)
		}
	}
	return out, nil
}

// DecodeGSM7 decodes unpacked GSM 03.38 septets. An escape before an
// unknown code yields the code's basic character, as 3GPP TS 23.038 asks;
// a trailing escape yields a space.
func DecodeGSM7(b []byte) string {
	if gsmIsASCII(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i] & 0x7F
		if c == gsmEscape {
			if i+1 >= len(b) {
				sb.WriteByte(' ')
				break
			}
			i++
			n := b[i] & 0x7F
			if r, ok := gsmExtension[n]; ok {
				sb.WriteRune(r)
			} else if n != gsmEscape {
				sb.WriteRune(gsmBasic[n])
			}
			continue
		}
		sb.WriteRune(gsmBasic[c])
	}
	return sb.String()
}

// gsmSameAsASCII marks the septets whose character is the ASCII one of
// the same value; receipts and most texts are made of nothing else.
var gsmSameAsASCII = func() (t [256]bool) {
	for c := 0; c < 128; c++ {
		t[c] = c != gsmEscape && gsmBasic[c] == rune(c)
	}
	return t
}()

func gsmIsASCII(b []byte) bool {
	for _, c := range b {
		if !gsmSameAsASCII[c] {
			return false
		}
	}
	return true
}

// EncodeUCS2 encodes s as UTF-16BE (characters outside the BMP become
// surrogate pairs, as every handset in use reads them). Invalid UTF-8 is
// sent as U+FFFD.
func EncodeUCS2(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			out = append(out, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
			continue
		}
		out = append(out, byte(r>>8), byte(r))
	}
	return out
}

// DecodeUCS2 decodes UTF-16BE; an odd trailing octet is dropped.
func DecodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

// DecodeText decodes a short_message or message_payload by its data_coding.
// Codings this package does not know are read as Latin-1, which never fails.
func DecodeText(dataCoding byte, b []byte) string {
	switch dataCoding {
	case CodingDefault:
		return DecodeGSM7(b)
	case CodingUCS2:
		return DecodeUCS2(b)
	case CodingIA5:
		return string(b)
	}
	if dataCoding&0xF0 == 0xF0 { // GSM 03.38 message class coding group
		if dataCoding&0x04 == 0 {
			return DecodeGSM7(b)
		}
	}
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// Split is a text encoded for sending: its data_coding and one payload per
// part (without any UDH). Segments is what domain/sms bills for the text;
// it equals len(Parts) for the UDH and SAR modes.
type Split struct {
	DataCoding byte
	Encoding   string // "GSM7" or "UCS2", as domain/sms names it
	Whole      []byte // the whole text encoded, for message_payload
	Parts      [][]byte
	Segments   int
}

// Single-part and per-part limits, the same as domain/sms: a concatenated
// part loses 6 octets to the UDH (05 00 03 ref total seq).
const (
	gsmSingle = 160
	gsmPart   = 153
	ucsSingle = 70
	ucsPart   = 67
)

// SplitText encodes text and cuts it into parts the way domain/sms counts
// segments: GSM-7 when every character is in GSM 03.38 (160 septets in one
// part, else parts of at most 153), otherwise UCS-2 (70 units, else 67),
// never cutting an escape pair or a surrogate pair.
func SplitText(text string) (Split, error) {
	info := sms.Analyze(text)
	var sp Split
	sp.Encoding = string(info.Encoding)
	sp.Segments = info.Segments
	var single, part int
	var enc func(b []byte, r rune) []byte
	switch info.Encoding {
	case sms.GSM7:
		sp.DataCoding, single, part = CodingDefault, gsmSingle, gsmPart
		enc = func(b []byte, r rune) []byte { b, _ = gsmAppend(b, r); return b }
	default:
		sp.DataCoding, single, part = CodingUCS2, ucsSingle*2, ucsPart*2
		enc = func(b []byte, r rune) []byte {
			if r == utf8.RuneError {
				r = 0xFFFD
			}
			return append(b, EncodeUCS2(string(r))...)
		}
	}
	whole := make([]byte, 0, len(text)*2)
	for _, r := range text {
		whole = enc(whole, r)
	}
	sp.Whole = whole
	if len(whole) <= single {
		sp.Parts = [][]byte{whole}
	} else {
		cur := make([]byte, 0, part)
		for _, r := range text {
			c := enc(nil, r)
			if len(cur)+len(c) > part {
				sp.Parts = append(sp.Parts, cur)
				cur = make([]byte, 0, part)
			}
			cur = append(cur, c...)
		}
		sp.Parts = append(sp.Parts, cur)
	}
	if len(sp.Parts) != sp.Segments {
		// Both sides follow the same rule; a difference is a bug here.
		return sp, fmt.Errorf("smpp: %d parts but %d segments billed for a %s text", len(sp.Parts), sp.Segments, sp.Encoding)
	}
	return sp, nil
}

// UDH is a concatenation header with an 8-bit reference (IEI 0x00).
type UDH struct {
	Ref, Total, Seq byte
}

// AppendConcatUDH appends 05 00 03 ref total seq.
func AppendConcatUDH(b []byte, u UDH) []byte {
	return append(b, 0x05, 0x00, 0x03, u.Ref, u.Total, u.Seq)
}

// ParseUDH splits a short_message whose esm_class has the UDHI bit (0x40)
// into its concatenation header (8-bit IEI 0x00 or 16-bit IEI 0x08, if any)
// and the text octets after the header.
func ParseUDH(b []byte) (u UDH, ok bool, rest []byte, err error) {
	if len(b) == 0 || int(b[0])+1 > len(b) {
		return u, false, b, fmt.Errorf("smpp: UDH length %d over a %d-octet message", firstOr0(b), len(b))
	}
	h := b[1 : 1+int(b[0])]
	rest = b[1+int(b[0]):]
	for len(h) >= 2 {
		iei, n := h[0], int(h[1])
		if 2+n > len(h) {
			return u, false, rest, fmt.Errorf("smpp: UDH element 0x%02X overruns the header", iei)
		}
		v := h[2 : 2+n]
		switch {
		case iei == 0x00 && n == 3:
			u, ok = UDH{Ref: v[0], Total: v[1], Seq: v[2]}, true
		case iei == 0x08 && n == 4:
			u, ok = UDH{Ref: v[1], Total: v[2], Seq: v[3]}, true
		}
		h = h[2+n:]
	}
	return u, ok, rest, nil
}

func firstOr0(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	return int(b[0])
}

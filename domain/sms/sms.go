// Package sms works out how a message text will be split into SMS segments,
// so that bulk campaigns can be priced before anything is sent. Carriers bill
// per segment, so the rules below follow GSM 03.38 / 3GPP TS 23.038 and the
// concatenated-SMS layout exactly rather than approximating with ceil().
package sms

import "unicode/utf8"

// Encoding is the character set a message must be sent in.
type Encoding string

const (
	GSM7 Encoding = "GSM7"
	UCS2 Encoding = "UCS2"
)

const (
	// A multipart message spends 6 bytes of each 140-byte payload on the
	// concatenation header, which leaves 153 septets or 67 UTF-16 units.
	gsmSingleLimit  = 160
	gsmSegmentLimit = 153
	ucsSingleLimit  = 70
	ucsSegmentLimit = 67

	// The list only exists to tell the author what to fix; beyond a handful
	// of entries it stops being useful and would grow without bound.
	maxUCS2Chars = 20
)

// Info describes how a text will be encoded and billed.
type Info struct {
	Encoding Encoding
	Units    int // septets for GSM7, UTF-16 code units for UCS2
	Segments int
	// UCS2Chars lists, in order of first appearance and without repeats, the
	// characters that are not in the GSM 03.38 alphabet (empty for GSM7).
	// At most 20 entries.
	UCS2Chars []string
}

// asciiSeptets holds the GSM 03.38 cost of each ASCII code point: 0 when it
// cannot be sent in GSM7 at all (e.g. backtick, TAB, most control codes),
// 2 when it lives in the extension table and needs an escape septet.
var asciiSeptets = func() (t [utf8.RuneSelf]uint8) {
	for _, r := range "\n\r !\"#$%&'()*+,-./0123456789:;<=>?@" +
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz" {
		t[r] = 1
	}
	for _, r := range "\f^{}\\[~]|" {
		t[r] = 2
	}
	return t
}()

// gsmSeptets returns how many septets r costs in GSM7, or 0 if r forces the
// whole message into UCS-2. A switch keeps the non-ASCII lookup free of
// allocations and hashing.
func gsmSeptets(r rune) int {
	if r < utf8.RuneSelf {
		return int(asciiSeptets[r])
	}
	switch r {
	case '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å',
		'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ',
		'Æ', 'æ', 'ß', 'É', '¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
		'¿', 'ä', 'ö', 'ñ', 'ü', 'à':
		return 1
	case '€':
		return 2
	}
	return 0
}

// utf16Units is the UTF-16 length of r. Runes produced by ranging over a
// string are never lone surrogates, so only the BMP boundary matters.
func utf16Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// Analyze reports the encoding, size and segment count of content.
//
// An empty string is reported as one GSM7 segment of 0 units, because
// that is what a carrier would bill if it were sent. Invalid UTF-8 bytes are
// treated as U+FFFD, which is not in GSM 03.38 and therefore forces UCS2.
func Analyze(content string) Info {
	total := 0
	for i, r := range content {
		c := gsmSeptets(r)
		if c == 0 {
			return analyzeUCS2(content, i)
		}
		total += c
	}
	info := Info{Encoding: GSM7, Units: total, Segments: 1}
	if total > gsmSingleLimit {
		info.Segments = pack(content, gsmSegmentLimit, gsmSeptets)
	}
	return info
}

// analyzeUCS2 handles a text whose first non-GSM character is at byte
// offset first; everything before it is known to be GSM and is skipped when
// collecting UCS2Chars.
func analyzeUCS2(content string, first int) Info {
	units := 0
	for _, r := range content[:first] {
		units += utf16Units(r)
	}
	// Deduplicating on runes in a stack array means a long non-GSM text
	// allocates only once per distinct character, not once per character.
	var seen [maxUCS2Chars]rune
	var chars []string
	for _, r := range content[first:] {
		units += utf16Units(r)
		if len(chars) < maxUCS2Chars && gsmSeptets(r) == 0 && !containsRune(seen[:len(chars)], r) {
			seen[len(chars)] = r
			chars = append(chars, string(r))
		}
	}
	info := Info{Encoding: UCS2, Units: units, Segments: 1, UCS2Chars: chars}
	if units > ucsSingleLimit {
		info.Segments = pack(content, ucsSegmentLimit, utf16Units)
	}
	return info
}

func containsRune(list []rune, r rune) bool {
	for _, v := range list {
		if v == r {
			return true
		}
	}
	return false
}

// pack fills segments greedily character by character instead of dividing
// the total, because neither an escape+char pair nor a surrogate pair may be
// split: when it does not fit in what is left of a segment, the whole
// character moves to the next one and the leftover unit is wasted.
func pack(s string, limit int, cost func(rune) int) int {
	segments, used := 1, 0
	for _, r := range s {
		c := cost(r)
		if used+c > limit {
			segments++
			used = 0
		}
		used += c
	}
	return segments
}

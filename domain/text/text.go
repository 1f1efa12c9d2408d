// Package text holds the rules for the text the service accepts: what can
// be stored (PostgreSQL's text refuses NUL and invalid UTF-8) and what
// makes sense in a name or a message, and how a JSON string is read
// without encoding/json's silent repairs.
package text

import (
	"fmt"
	"unicode/utf8"
)

// Kind says which control characters a field may hold.
type Kind int

const (
	// Line is a name, an identifier, a URL, a search term: no control
	// character at all.
	Line Kind = iota
	// Multiline is free text such as an SMS body: line feed, carriage
	// return and tab are allowed, no other control character.
	Multiline
)

// Messages of the refusals, in the pydantic wording the API uses.
const (
	MsgInvalidUTF8    = "String should be valid UTF-8; found an invalid byte sequence."
	msgControl        = "String should not contain control characters; found %s at character %d."
	msgControlNewline = "String should not contain control characters other than line feed, carriage return and tab; found %s at character %d."
	msgLoneSurrogate  = "String should not contain a lone surrogate (%s); characters outside the Basic Multilingual Plane are written as a surrogate pair."
)

// Problem says what makes s unfit for a field of kind k, or "" when it is
// fit. It refuses invalid UTF-8 (which PostgreSQL cannot store) and the
// control characters of Unicode's Cc category (C0, DEL and C1), NUL
// included, except the line breaks and tab a Multiline field allows.
// Positions are counted in characters from 1, as the length limits are.
func Problem(s string, k Kind) string {
	if !utf8.ValidString(s) {
		return MsgInvalidUTF8
	}
	// ASCII first: nearly every input is, and the check is one byte each.
	pos := 0
	for i := 0; i < len(s); {
		c := s[i]
		pos++
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				if k == Multiline && (c == '\n' || c == '\r' || c == '\t') {
					i++
					continue
				}
				return controlMsg(rune(c), pos, k)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r >= 0x80 && r <= 0x9f {
			return controlMsg(r, pos, k)
		}
		i += n
	}
	return ""
}

func controlMsg(r rune, pos int, k Kind) string {
	name := fmt.Sprintf("U+%04X", r)
	if k == Multiline {
		return fmt.Sprintf(msgControlNewline, name, pos)
	}
	return fmt.Sprintf(msgControl, name, pos)
}

// JSONStringProblem looks at the raw token of a JSON string (quotes
// included, syntax already checked) for what encoding/json would replace
// with U+FFFD without a word: bytes that are not UTF-8, and \u escapes of
// a surrogate that is not half of a pair. It returns "" when there is
// neither. Control characters are left to Problem, on the decoded value.
func JSONStringProblem(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if !utf8.Valid(inner) {
		return MsgInvalidUTF8
	}
	for i := 0; i < len(inner); i++ {
		if inner[i] != '\\' {
			continue
		}
		i++
		if i >= len(inner) || inner[i] != 'u' {
			continue // a one-character escape: \" \\ \/ \b \f \n \r \t
		}
		u, ok := hex4(inner, i+1)
		if !ok {
			return ""
		}
		i += 4
		switch {
		case u >= 0xdc00 && u <= 0xdfff:
			return fmt.Sprintf(msgLoneSurrogate, string(inner[i-5:i+1]))
		case u >= 0xd800 && u <= 0xdbff:
			if i+2 < len(inner) && inner[i+1] == '\\' && inner[i+2] == 'u' {
				if lo, ok := hex4(inner, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
					i += 6
					continue
				}
			}
			return fmt.Sprintf(msgLoneSurrogate, string(inner[i-5:i+1]))
		}
	}
	return ""
}

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

package text

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		kind Kind
		want string // a part of the message, "" for none
	}{
		{"plain ASCII is fine", "Black Friday Promo - Luanda", Line, ""},
		{"accented letters and emoji are fine", "Olá, promoção 😀", Line, ""},
		{"empty string is fine (lengths are checked elsewhere)", "", Line, ""},
		{"NUL in a name is refused with its position", "n\x00ame", Line, "found U+0000 at character 2"},
		{"line feed in a name is refused", "two\nlines", Line, "found U+000A at character 4"},
		{"tab in a name is refused", "a\tb", Line, "U+0009"},
		{"DEL is refused", "a\x7f", Line, "U+007F at character 2"},
		{"C1 control is refused and counted in characters", "é\u0085", Line, "U+0085 at character 2"},
		{"line feed, carriage return and tab are fine in message text", "Hello\r\n\tthere", Multiline, ""},
		{"NUL in message text is refused", "Hello\x00", Multiline, "other than line feed, carriage return and tab; found U+0000 at character 6"},
		{"escape character in message text is refused", "\x1b[31m", Multiline, "U+001B"},
		{"invalid UTF-8 is refused", "caf\xe9", Line, "valid UTF-8"},
		{"an encoded surrogate is invalid UTF-8", "\xed\xa0\x80", Multiline, "valid UTF-8"},
		{"U+2028 line separator is not a control character", "a\u2028b", Line, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Problem(c.in, c.kind)
			if (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
				t.Fatalf("Problem(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestJSONStringProblem(t *testing.T) {
	for _, c := range []struct {
		name string
		raw  string
		want string
	}{
		{"plain string", `"abc"`, ""},
		{"escaped pair is a character", `"\ud83d\ude00"`, ""},
		{"upper-case escaped pair", `"\uD83D\uDE00"`, ""},
		{"escaped backslash before u is not an escape", `"\\ud800"`, ""},
		{"escaped NUL is left to Problem", `"\u0000"`, ""},
		{"lone high surrogate", `"a\ud800b"`, `\ud800`},
		{"lone high surrogate at the end", `"\uD83D"`, `\uD83D`},
		{"lone low surrogate", `"\udc00"`, `\udc00`},
		{"high surrogate followed by a non-surrogate escape", `"\ud83d\u0041"`, `\ud83d`},
		{"two high surrogates", `"\ud83d\ud83d\ude00"`, `\ud83d`},
		{"raw invalid byte", "\"caf\xe9\"", "valid UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !json.Valid([]byte(c.raw)) {
				t.Fatalf("test input %q is not JSON", c.raw)
			}
			got := JSONStringProblem([]byte(c.raw))
			if (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
				t.Fatalf("JSONStringProblem(%s) = %q, want %q", c.raw, got, c.want)
			}
		})
	}
}

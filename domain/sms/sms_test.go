package sms

import (
	"reflect"
	"strings"
	"testing"
)

func rep(s string, n int) string { return strings.Repeat(s, n) }

// The full GSM 03.38 basic table (minus the ESC slot) and extension table,
// written out independently of the implementation so a typo in either shows.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

func TestAnalyze(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		encoding Encoding
		units    int
		segments int
		chars    []string
	}{
		{"empty", "", GSM7, 0, 1, nil},
		{"single char", "a", GSM7, 1, 1, nil},

		// GSM7 plain boundaries.
		{"gsm 160", rep("a", 160), GSM7, 160, 1, nil},
		{"gsm 161", rep("a", 161), GSM7, 161, 2, nil},
		{"gsm 306", rep("a", 306), GSM7, 306, 2, nil},
		{"gsm 307", rep("a", 307), GSM7, 307, 3, nil},
		{"gsm 459", rep("a", 459), GSM7, 459, 3, nil},
		{"gsm 460", rep("a", 460), GSM7, 460, 4, nil},

		// Extension characters near the single-part limit.
		{"ext ends at 159", rep("a", 157) + "€", GSM7, 159, 1, nil},
		{"ext ends at 160", rep("a", 158) + "€", GSM7, 160, 1, nil},
		{"ext ends at 161", rep("a", 159) + "€", GSM7, 161, 2, nil},
		{"80 braces", rep("{", 80), GSM7, 160, 1, nil},
		{"80 braces + 1", rep("{", 80) + "a", GSM7, 161, 2, nil},
		{"form feed costs 2", rep("a", 159) + "\f", GSM7, 161, 2, nil},

		// Extension character at the 153 segment boundary: 306 septets
		// fit two segments only if the pair lands on 152-153.
		{"ext fits 152-153", rep("a", 151) + "€" + rep("a", 153), GSM7, 306, 2, nil},
		{"ext straddles 153", rep("a", 152) + "€" + rep("a", 152), GSM7, 306, 3, nil},
		{"ext straddles 153 short", rep("a", 152) + "€" + rep("a", 151), GSM7, 305, 2, nil},
		{"all ext multipart", rep("]", 153), GSM7, 306, 3, nil}, // 76 pairs per segment

		// UCS-2 plain boundaries.
		{"ucs 70", rep("ж", 70), UCS2, 70, 1, []string{"ж"}},
		{"ucs 71", rep("ж", 71), UCS2, 71, 2, []string{"ж"}},
		{"ucs 134", rep("ж", 134), UCS2, 134, 2, []string{"ж"}},
		{"ucs 135", rep("ж", 135), UCS2, 135, 3, []string{"ж"}},

		// Surrogate pairs.
		{"35 emoji", rep("😀", 35), UCS2, 70, 1, []string{"😀"}},
		{"36 emoji", rep("😀", 36), UCS2, 72, 2, []string{"😀"}},
		{"69 units + emoji", rep("ж", 69) + "😀", UCS2, 71, 2, []string{"ж", "😀"}},
		{"emoji fits 66-67", rep("ж", 65) + "😀" + rep("ж", 67), UCS2, 134, 2, []string{"ж", "😀"}},
		{"emoji straddles 67", rep("ж", 66) + "😀" + rep("ж", 66), UCS2, 134, 3, []string{"ж", "😀"}},
		{"emoji straddles 67 short", rep("ж", 66) + "😀" + rep("ж", 65), UCS2, 133, 2, []string{"ж", "😀"}},

		// Mixed text: a single non-GSM char switches everything to UCS-2,
		// and GSM extension chars then cost 1 unit, not 2.
		{"emoji in gsm text", "Hello 😀 world", UCS2, 14, 1, []string{"😀"}},
		{"backtick", "a`b", UCS2, 3, 1, []string{"`"}},
		{"tab", "a\tb", UCS2, 3, 1, []string{"\t"}},
		{"lowercase c cedilla", "ça", UCS2, 2, 1, []string{"ç"}},
		{"ext in ucs costs 1", "€{ж", UCS2, 3, 1, []string{"ж"}},
		{"160 gsm + 1 cyrillic", rep("a", 160) + "ж", UCS2, 161, 3, []string{"ж"}},
		{"invalid utf8", "a\xffb", UCS2, 3, 1, []string{"\uFFFD"}},

		// Dedupe keeps first-appearance order.
		{"dedupe", "ж😀aж`😀ж", UCS2, 9, 1, []string{"ж", "😀", "`"}},

		// Whole alphabet.
		{"gsm basic table", gsmBasic, GSM7, 127, 1, nil},
		{"gsm extension table", gsmExtension, GSM7, 20, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Analyze(tt.content)
			if got.Encoding != tt.encoding || got.Units != tt.units || got.Segments != tt.segments {
				t.Errorf("Analyze() = {%s units=%d segments=%d}, want {%s units=%d segments=%d}",
					got.Encoding, got.Units, got.Segments, tt.encoding, tt.units, tt.segments)
			}
			if !reflect.DeepEqual(got.UCS2Chars, tt.chars) {
				t.Errorf("UCS2Chars = %q, want %q", got.UCS2Chars, tt.chars)
			}
		})
	}
}

func TestEachGSMCharacter(t *testing.T) {
	for _, r := range gsmBasic {
		if got := Analyze(string(r)); got.Encoding != GSM7 || got.Units != 1 {
			t.Errorf("%q: got %s/%d, want GSM7/1", r, got.Encoding, got.Units)
		}
	}
	for _, r := range gsmExtension {
		if got := Analyze(string(r)); got.Encoding != GSM7 || got.Units != 2 {
			t.Errorf("%q: got %s/%d, want GSM7/2", r, got.Encoding, got.Units)
		}
	}
	// Every ASCII code point outside the two tables must force UCS-2.
	for r := rune(0); r < 128; r++ {
		if strings.ContainsRune(gsmBasic+gsmExtension, r) {
			continue
		}
		if got := Analyze(string(r)); got.Encoding != UCS2 {
			t.Errorf("%q: got %s, want UCS2", r, got.Encoding)
		}
	}
}

func TestUCS2CharsCapped(t *testing.T) {
	var b strings.Builder
	var want []string
	for r := 'а'; r < 'а'+30; r++ { // 30 distinct Cyrillic letters
		b.WriteRune(r)
		if len(want) < 20 {
			want = append(want, string(r))
		}
	}
	got := Analyze(b.String())
	if !reflect.DeepEqual(got.UCS2Chars, want) {
		t.Errorf("UCS2Chars = %q, want first 20 %q", got.UCS2Chars, want)
	}
	if got.Units != 30 {
		t.Errorf("Units = %d, want 30 (cap must not stop counting)", got.Units)
	}
}

func TestGSMDoesNotAllocate(t *testing.T) {
	s := rep("Hello {world} €5 è £ Δ ", 30)
	if n := testing.AllocsPerRun(100, func() { Analyze(s) }); n != 0 {
		t.Errorf("Analyze allocated %v times on GSM text, want 0", n)
	}
}

var sink Info

func BenchmarkAnalyze(b *testing.B) {
	cases := []struct{ name, content string }{
		{"gsm_short", "Your code is 123456. Reply STOP to opt out."},
		{"gsm_long", rep("Hello {world} €5 è £ Δ ", 400)},
		{"ucs2_long", rep("Привет 😀 мир ", 700)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.content)))
			for b.Loop() {
				sink = Analyze(c.content)
			}
		})
	}
}

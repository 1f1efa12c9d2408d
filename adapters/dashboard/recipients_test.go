package dashboard

import (
	"slices"
	"testing"
)

func TestParseRecipientList(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"one number a line, blank lines skipped", "+244990000001\n\n 990000002 \r\n", []string{"+244990000001", "990000002"}},
		{"a header row is skipped", "phone\n+244990000001\n990000002", []string{"+244990000001", "990000002"}},
		{"a line without a number after the first is kept for the API to name", "+244990000001\nabc", []string{"+244990000001", "abc"}},
		{"the number column of a CSV is taken", "name,phone\nAna,+244 990 000 001\n\"Rui, Jr\",990000002", []string{"+244 990 000 001", "990000002"}},
		{"semicolon separated", "nome;telefone\nAna;990000001", []string{"990000001"}},
		{"a byte-order mark is ignored", "\ufeff990000001\n990000002", []string{"990000001", "990000002"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRecipientList(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMoney(t *testing.T) {
	for _, tc := range []struct {
		name  string
		minor int64
		want  string
	}{
		{"thousands are separated", 100_000_000, "1,000,000.00 AOA"},
		{"cents are kept", 1234567, "12,345.67 AOA"},
		{"debits are negative", -450, "-4.50 AOA"},
		{"zero", 0, "0.00 AOA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := money(tc.minor, "AOA"); got != tc.want {
				t.Fatalf("money(%d) = %q, want %q", tc.minor, got, tc.want)
			}
		})
	}
}

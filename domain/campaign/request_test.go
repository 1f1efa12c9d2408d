package campaign

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

var (
	reRecipient = regexp.MustCompile(RecipientPattern)
	reCountry   = regexp.MustCompile(CountryPattern)
)

// recipientAlphabet mixes every byte class the pattern cares about with
// near misses: \v (not in RE2's \s), non-ASCII digits and spaces, letters.
var recipientAlphabet = []string{
	"0", "5", "9", " ", "\t", "\n", "\f", "\r", "-", ".", "+",
	"\v", "a", "/", "(", "٣", "\u00a0", "\u2003", "é", "\x00", "\xff",
}

func TestMatchRecipientAgainstRegexp(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := matchRecipient(s), reRecipient.MatchString(s); got != want {
			t.Fatalf("matchRecipient(%q) = %v, regexp says %v", s, got, want)
		}
	}

	// Exhaustive over a small alphabet around the length bounds.
	small := []string{"1", " ", "+", "a"}
	for _, n := range []int{0, 1, 2, 3, 6, 7, 8} {
		total := 1
		for range n {
			total *= len(small)
		}
		for k := range total {
			var b strings.Builder
			for j, x := 0, k; j < n; j, x = j+1, x/len(small) {
				b.WriteString(small[x%len(small)])
			}
			check(b.String())
		}
	}

	// Random strings, mostly from the class so that matches are common.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		n := rng.IntN(36)
		var b strings.Builder
		if rng.IntN(3) == 0 {
			b.WriteString("+")
		}
		for range n {
			if rng.IntN(8) == 0 {
				b.WriteString(recipientAlphabet[rng.IntN(len(recipientAlphabet))])
			} else {
				b.WriteString(recipientAlphabet[rng.IntN(10)])
			}
		}
		check(b.String())
	}

	// Every single byte in the middle of a valid number.
	for c := range 256 {
		check("123" + string([]byte{byte(c)}) + "4567")
		check(string([]byte{byte(c)}) + "1234567")
	}
}

func TestMatchCountryAgainstRegexp(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			s := string([]byte{byte(a), byte(b)})
			if got, want := matchCountry(s), reCountry.MatchString(s); got != want {
				t.Fatalf("matchCountry(%q) = %v, regexp says %v", s, got, want)
			}
		}
	}
	for _, s := range []string{"", "A", "AOO", "AO\n", "ÅO", "A\u0301O"} {
		if got, want := matchCountry(s), reCountry.MatchString(s); got != want {
			t.Fatalf("matchCountry(%q) = %v, regexp says %v", s, got, want)
		}
	}
}

// The accepted codes are the ISO 3166-1 territories that have a numbering
// plan, from CLDR (golang.org/x/text) and libphonenumber: a local number
// can then be read for each of them; assigned codes without a plan are
// refused with a message that says so; reserved, withdrawn and made-up
// codes as unknown.
func TestCountryCodes(t *testing.T) {
	codes := CountryCodes()
	if len(codes) < 240 || len(codes) > 250 {
		t.Fatalf("%d codes accepted", len(codes))
	}
	for _, code := range codes {
		if !reCountry.MatchString(code) {
			t.Fatalf("code %q does not match %s", code, CountryPattern)
		}
		// Every accepted code reads a local number of its own plan.
		cc := phonenumbers.GetCountryCodeForRegion(code)
		ex := phonenumbers.GetExampleNumber(code)
		if cc == 0 {
			t.Errorf("%s has no country calling code", code)
		} else if ex != nil {
			local := phonenumbers.Format(ex, phonenumbers.NATIONAL)
			if n, err := phonenumbers.Parse(local, code); err != nil || n.GetCountryCode() != int32(cc) {
				t.Errorf("%s: local number %q: %v", code, local, err)
			}
		}
	}
	for _, code := range []string{"AO", "PT", "BR", "US", "GB", "SS", "BQ", "CW", "SX", "AX", "XK"} {
		if p := countryProblem(code); p != "" {
			t.Errorf("%s refused: %s", code, p)
		}
	}
	for code, name := range map[string]string{"AQ": "Antarctica", "BV": "Bouvet Island", "UM": "U.S. Outlying Islands"} {
		want := "Value error, '" + code + "' (" + name + ") has no telephone numbering plan"
		if p := countryProblem(code); !strings.HasPrefix(p, want) {
			t.Errorf("%s: %q, want %q…", code, p, want)
		}
	}
	// Reserved, withdrawn or unassigned codes.
	for _, code := range []string{"UK", "EU", "UN", "AC", "TA", "AN", "CS", "YU", "SU", "ZR", "ZZ", "AA", "QM", "XX", "ao"} {
		if p := countryProblem(code); p != "Value error, '"+code+"' is not an ISO 3166-1 alpha-2 country code." {
			t.Errorf("%s: %q", code, p)
		}
	}
}

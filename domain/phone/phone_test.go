package phone

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, raw, region string
		e164, country     string
		reason            string
	}{
		{"international AO", "+244 923 456 789", "AO", "+244923456789", "AO", ""},
		{"national AO with default region", "923456789", "AO", "+244923456789", "AO", ""},
		{"formatting is ignored", "(923) 456-789", "ao", "+244923456789", "AO", ""},
		{"trunk zero PT", "912 345 678", "PT", "+351912345678", "PT", ""},
		{"other country priced by destination", "+351912345678", "AO", "+351912345678", "PT", ""},
		{"00 prefix", "00351912345678", "AO", "+351912345678", "PT", ""},
		{"US number from AO campaign", "+1 415 555 0123", "AO", "+14155550123", "US", ""},
		{"letters", "call me", "AO", "", "", ReasonUnparseable},
		{"empty", "   ", "AO", "", "", ReasonUnparseable},
		{"hostile length", "+2449" + string(make([]byte, 100)), "AO", "", "", ReasonUnparseable},
		{"unknown country code", "+999 123 456 789", "AO", "", "", ReasonInvalidCountryCode},
		{"too short", "92345", "AO", "", "", ReasonTooShort},
		{"too long", "+244 923 456 789 123 456 78", "AO", "", "", ReasonTooLong},
		{"unassigned range", "+244 123 456 789", "AO", "", "", ReasonInvalid},
		{"freephone", "+1 800 555 0199", "US", "", "", ReasonNotSMSCapable},
		{"PT premium rate", "+351 760 123 456", "PT", "", "", ReasonNotSMSCapable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, reason := Normalize(tt.raw, tt.region)
			if reason != tt.reason || n.E164 != tt.e164 || n.Country != tt.country {
				t.Fatalf("Normalize(%q, %q) = %+v %q, want {%s %s} %q", tt.raw, tt.region, n, reason, tt.e164, tt.country, tt.reason)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+244923456789", "923456789", "00351912345678", "++--", "+0", "999999999999999999999"} {
		f.Add(s, "AO")
	}
	for _, s := range []string{"+244 923 456 789", "(923) 456-789", "+00244923456789", "011 54 9 11 2345 6789", "0 21 98765 4321"} {
		f.Add(s, "BR")
	}
	f.Add("+1 (415) 555-0123", "US")
	f.Add("01481 256789", "GG")
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, reason := Normalize(raw, region)
		if (reason == "") == (n.E164 == "") {
			t.Fatalf("Normalize(%q,%q) = %+v %q: exactly one of number and reason must be set", raw, region, n, reason)
		}
		if wn, wreason := normalizeFull(raw, region); n != wn || reason != wreason {
			t.Fatalf("Normalize(%q,%q) = %+v %q, reference gives %+v %q", raw, region, n, reason, wn, wreason)
		}
	})
}

package phone

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestLeadDigitsOverApproximates checks the pre-filter on patterns built to
// hit each syntax case, against brute force: every digit string of up to
// three digits the regex matches must start with a digit in the set.
func TestLeadDigitsOverApproximates(t *testing.T) {
	patterns := []string{
		"1?2\\d", "(?:0|)5", "\\d{0,2}7", "(?:)8", "x|9", "[0-3]+", "a*4", "(?:1{0}|2)3", "$^6?",
		"(?:1|2?)(?:3?)4", "(?:56)*7", "[^0-8]\\d", ".\\d", "(1)?(2)?(3)", "\\b5", "(?i)k|1", "NA", "",
		"(?:2\\d|3)?\\d", "0{1,2}9", "(?:0{0,1}){2}8",
	}
	for _, p := range patterns {
		d := newDesc(&phonenumbers.PhoneNumberDesc{NationalNumberPattern: &p})
		re := regexp.MustCompile("^(?:" + p + ")$")
		for n := 1; n <= 3; n++ {
			limit := 1
			for range n {
				limit *= 10
			}
			for i := range limit {
				s := strconv.Itoa(limit + i)[1:]
				if re.MatchString(s) && d.lead&(1<<(s[0]-'0')) == 0 {
					t.Errorf("pattern %q matches %s but lead set is %010b", p, s, d.lead)
				}
				if re.MatchString(s) != d.pattern(s) {
					t.Errorf("pattern %q on %s: filter changes the answer", p, s)
				}
			}
		}
	}
	// The filter must also be selective, or it saves nothing.
	lit := "9[1-79]\\d{7}"
	if d := newDesc(&phonenumbers.PhoneNumberDesc{NationalNumberPattern: &lit}); d.lead != 1<<9 {
		t.Errorf("lead set of %q = %010b, want only 9", lit, d.lead)
	}
}

// TestLeadDigitsCoversExamples checks the pre-filter against the library's
// own example numbers: a filter that excluded one would turn a valid
// number into an invalid one.
func TestLeadDigitsCoversExamples(t *testing.T) {
	checked := 0
	for _, md := range loadCorpus().meta {
		for _, d := range []*phonenumbers.PhoneNumberDesc{
			md.GetGeneralDesc(), md.GetFixedLine(), md.GetMobile(), md.GetTollFree(), md.GetPremiumRate(),
			md.GetSharedCost(), md.GetPersonalNumber(), md.GetVoip(), md.GetPager(), md.GetUan(), md.GetVoicemail(),
		} {
			ex := d.GetExampleNumber()
			if ex == "" {
				continue
			}
			nd := newDesc(d)
			if !nd.re.MatchString(ex) {
				continue // examples that do not match their own pattern say nothing here
			}
			if !nd.pattern(ex) {
				t.Errorf("%s: lead-digit filter rejects example %s of %q", md.GetId(), ex, d.GetNationalNumberPattern())
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d examples checked", checked)
	}
	t.Logf("%d examples checked", checked)
}

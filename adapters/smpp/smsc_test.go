package smpp

import (
	"reflect"
	"testing"
)

func TestOutcomeRulesReadBackWhatTheyWrite(t *testing.T) {
	got, err := ParseRules(FormatRules(DefaultRules))
	if err != nil || !reflect.DeepEqual(got, DefaultRules) {
		t.Fatalf("%v %+v", err, got)
	}
	for _, bad := range []string{"13", "ab=DELIVRD", "13=NOPE", "13=0x", "13=0x0"} {
		if _, err := ParseRules(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewSMSC(SMSCConfig{Rules: []OutcomeRule{{Stat: "UNDELIV"}}}); err == nil {
		t.Error("a rule without a suffix accepted")
	}
	if _, err := NewSMSC(SMSCConfig{ThrottlePerSecond: -1}); err == nil {
		t.Error("a negative rate accepted")
	}
}

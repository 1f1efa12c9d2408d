package phone

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestZZExplore(t *testing.T) {
	coll, _ := phonenumbers.MetadataCollection()
	lit := regexp.MustCompile(`^[0-9]+$`)
	nIDD, nNP, nTR, nilDesc, nLD := 0, 0, 0, 0, 0
	for _, m := range coll.GetMetadata() {
		if !lit.MatchString(m.GetInternationalPrefix()) {
			nIDD++
			fmt.Printf("IDD %s %q\n", m.GetId(), m.GetInternationalPrefix())
		}
		if m.GetNationalPrefixForParsing() != "" && !lit.MatchString(m.GetNationalPrefixForParsing()) {
			nNP++
			fmt.Printf("NPFP %s %q tr=%q\n", m.GetId(), m.GetNationalPrefixForParsing(), m.GetNationalPrefixTransformRule())
		}
		if m.GetNationalPrefixTransformRule() != "" {
			nTR++
		}
		for _, d := range []*phonenumbers.PhoneNumberDesc{m.GeneralDesc, m.FixedLine, m.Mobile, m.TollFree, m.PremiumRate, m.SharedCost, m.PersonalNumber, m.Voip, m.Pager, m.Uan, m.Voicemail} {
			if d == nil {
				nilDesc++
			}
		}
		if m.GetLeadingDigits() != "" {
			nLD++
		}
	}
	fmt.Println(len(coll.GetMetadata()), nIDD, nNP, nTR, nilDesc, nLD)
	for _, r := range []string{"AO", "PT", "US", "GB", "BR", "NG", "ZA", "FR", "DE", "IN"} {
		for _, m := range coll.GetMetadata() {
			if m.GetId() == r {
				fmt.Printf("%s idd=%q np=%q npfp=%q tr=%q same=%v gen=%q pl=%v\n", r, m.GetInternationalPrefix(), m.GetNationalPrefix(), m.GetNationalPrefixForParsing(), m.GetNationalPrefixTransformRule(), m.GetSameMobileAndFixedLinePattern(), m.GeneralDesc.GetNationalNumberPattern(), m.GeneralDesc.PossibleLength)
				fmt.Printf("   mobile=%q %v\n   fixed=%q %v\n   prem=%q %v\n   tf=%q %v\n", m.Mobile.GetNationalNumberPattern(), m.Mobile.PossibleLength, m.FixedLine.GetNationalNumberPattern(), m.FixedLine.PossibleLength, m.PremiumRate.GetNationalNumberPattern(), m.PremiumRate.PossibleLength, m.TollFree.GetNationalNumberPattern(), m.TollFree.PossibleLength)
			}
		}
	}
}

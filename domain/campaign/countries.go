package campaign

import (
	"fmt"
	"sort"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// country_alpha2 says how to read local numbers, so it must name a
// territory with a telephone numbering plan. The codes come from two
// maintained sources, not from a table of our own:
//
//   - golang.org/x/text/language (CLDR): the code is a country or territory
//     (Region.IsCountry), current (its own canonical form, so UK, BU or ZR
//     are not) and has a UN M.49 number, which exceptionally reserved codes
//     (AC, TA, EU, UN…) lack;
//   - github.com/nyaruka/phonenumbers (libphonenumber): it has a numbering
//     plan for the region.
//
// Seven assigned ISO 3166-1 codes have no numbering plan (AQ Antarctica,
// BV, GS, HM, PN, TF, UM) and are refused with a message that says so:
// every local number would otherwise fail later as INVALID_COUNTRY_CODE.
// XK (Kosovo), user-assigned in ISO 3166-1 but a CLDR territory with its
// own plan (+383), is accepted.
var (
	countries = map[string]bool{} // code → has a numbering plan
)

func init() {
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			code := string([]rune{a, b})
			r, err := language.ParseRegion(code)
			if err != nil || r.String() != code || !r.IsCountry() || r.M49() == 0 || r.Canonicalize() != r {
				continue
			}
			plan := phonenumbers.GetCountryCodeForRegion(code) != 0
			// Deprecated codes with several successors (AN, CS, SU, YU…)
			// stay canonical in CLDR; none has a plan any more.
			if !plan && !assignedWithoutPlan[code] {
				continue
			}
			countries[code] = plan
		}
	}
}

// assignedWithoutPlan are the officially assigned ISO 3166-1 codes that
// have no numbering plan. They are named so that the refusal can say why
// rather than call them unknown.
var assignedWithoutPlan = map[string]bool{"AQ": true, "BV": true, "GS": true, "HM": true, "PN": true, "TF": true, "UM": true}

// countryProblem says what is wrong with code as a country_alpha2 (which
// matched ^[A-Z]{2}$), or "".
func countryProblem(code string) string {
	plan, known := countries[code]
	switch {
	case !known:
		return fmt.Sprintf("Value error, '%s' is not an ISO 3166-1 alpha-2 country code.", code)
	case !plan:
		name := display.English.Regions().Name(language.MustParseRegion(code))
		return fmt.Sprintf("Value error, '%s' (%s) has no telephone numbering plan, so local numbers cannot be read for it; "+
			"give the country whose numbering plan the recipients' numbers follow.", code, name)
	}
	return ""
}

// CountryCodes returns the codes country_alpha2 accepts, sorted.
func CountryCodes() []string {
	out := make([]string, 0, len(countries))
	for c, plan := range countries {
		if plan {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

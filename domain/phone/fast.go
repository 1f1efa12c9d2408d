package phone

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// normalizeFast handles raw (already trimmed, non-empty, at most maxInput
// bytes) and region (upper-cased) when raw holds only digits, '+', spaces,
// dashes, dots and parentheses; ok is false for anything else, and for
// metadata shapes it does not mirror. It reproduces the library's Parse,
// IsValidNumber, IsPossibleNumberWithReason, GetNumberType and
// GetRegionCodeForNumber step by step, using the library's own patterns.
//
// Why that input is enough to skip work: it contains no letters (so no
// vanity-number conversion and no extension label), no ';' (so no RFC 3966
// parameters), no '#', ',' or '~' (so no extension of any other kind), and
// no non-ASCII digits; the library's trailing-character and second-number
// patterns cannot match it. What remains of parsing is: find the first '+'
// or digit, check the shape, and work on the ASCII digits.
func normalizeFast(raw, region string) (Number, string, bool) {
	t := loadTables()
	if t == nil {
		return Number{}, "", false
	}

	start := -1
	nDigits := 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			nDigits++
			if start < 0 {
				start = i
			}
		case c == '+':
			if start < 0 {
				start = i
			}
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return Number{}, "", false
		}
	}
	if start < 0 {
		return Number{}, ReasonUnparseable, true
	}
	num := raw[start:]

	// isViablePhoneNumber: exactly two digits, or a run of '+' followed by
	// digits and separators only, with at least three digits.
	plusEnd := 0
	for plusEnd < len(num) && num[plusEnd] == '+' {
		plusEnd++
	}
	if strings.IndexByte(num[plusEnd:], '+') >= 0 {
		return Number{}, ReasonUnparseable, true
	}
	twoDigits := len(num) == 2 && isDigits(num)
	if len(num) < 2 || (!twoDigits && nDigits < 3) {
		return Number{}, ReasonUnparseable, true
	}
	hasPlus := plusEnd > 0

	regionMeta, regionOK := t.regions[region]
	if !regionOK && !hasPlus {
		return Number{}, ReasonInvalidCountryCode, true
	}
	if regionMeta != nil {
		regionMeta = regionMeta.get()
	}

	digits := digitsOf(num[plusEnd:], nDigits)

	cc, national, fail := extractCountryCode(t, digits, hasPlus, regionMeta)
	if fail == failInvalidCountryCode && hasPlus {
		// The library retries without the '+', which lets the region's
		// international prefix or its own country code be recognised.
		cc, national, fail = extractCountryCode(t, digits, false, regionMeta)
		if fail == failNone && cc == 0 {
			fail = failInvalidCountryCode
		}
	}
	switch fail {
	case failInvalidCountryCode:
		return Number{}, ReasonInvalidCountryCode, true
	case failTooShortAfterIDD:
		return Number{}, ReasonTooShort, true
	}

	meta := regionMeta
	if cc != 0 {
		ci := t.code(cc)
		if ci.main != region {
			meta = ci.mainMeta.get()
		}
	} else {
		national = digits
		if region != "" && meta != nil {
			cc = meta.cc
		}
	}
	if len(national) < 2 {
		return Number{}, ReasonTooShort, true
	}
	if meta != nil {
		potential := meta.stripNationalPrefix(national)
		switch meta.testLength(len(potential)) {
		case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
		default:
			national = potential
		}
	}
	if len(national) < 2 {
		return Number{}, ReasonTooShort, true
	}
	if len(national) > phonenumbers.MAX_LENGTH_FOR_NSN {
		return Number{}, ReasonTooLong, true
	}
	// national is now exactly what GetNationalSignificantNumber returns for
	// the parsed number: the leading-zero fields reproduce the zeros the
	// integer national number drops.
	return validate(t, raw, cc, national)
}

// validate mirrors what Normalize does after parsing. IsValidNumber and
// GetNumberType both resolve the region with GetRegionCodeForNumber and
// then classify the number against that region's metadata, so one
// classification answers both.
func validate(t *tables, raw string, cc int, nsn string) (Number, string, bool) {
	ci := t.code(cc)
	region, class := "", classUnknown
	if ci != nil {
		region, class = ci.regionFor(nsn)
	}
	if class == classUnknown {
		return Number{}, possibleReason(ci, nsn), true
	}
	if class == classNotSMS {
		return Number{}, ReasonNotSMSCapable, true
	}
	country := region
	if len(country) != 2 || country == "ZZ" {
		country = ""
	}
	return Number{E164: e164(ci.plus, nsn, raw), Country: country}, "", true
}

// e164 reuses raw when it is already the E.164 string, the usual case for
// numbers submitted with '+', to save the allocation.
func e164(plus, nsn, raw string) string {
	if len(raw) == len(plus)+len(nsn) && raw[:len(plus)] == plus && raw[len(plus):] == nsn {
		return raw
	}
	return plus + nsn
}

// regionFor mirrors GetRegionCodeForNumber followed by the region check in
// IsValidNumberForRegion and the classification GetNumberType makes; it
// returns classUnknown when the number is not valid.
func (ci *codeInfo) regionFor(nsn string) (string, numberClass) {
	switch len(ci.regions) {
	case 0:
		return "", classUnknown
	case 1:
		return ci.regions[0], ci.classify(0, nsn)
	}
	for i, r := range ci.regions {
		lm := ci.listMeta[i].get()
		if lm.leading != nil {
			if lm.leading.MatchString(nsn) {
				return r, ci.classify(i, nsn)
			}
			continue
		}
		if c := lm.classify(nsn); c != classUnknown {
			if lm == ci.regionMeta[i] && lm.cc == ci.cc {
				return r, c // the validity check would repeat this exact classification
			}
			return r, ci.classify(i, nsn)
		}
	}
	return "", classUnknown
}

// classify mirrors IsValidNumberForRegion for ci.regions[i], then the type.
func (ci *codeInfo) classify(i int, nsn string) numberClass {
	m := ci.regionMeta[i].get()
	if ci.regions[i] != nonGeoRegion && m.cc != ci.cc {
		return classUnknown
	}
	return m.classify(nsn)
}

// possibleReason mirrors IsPossibleNumberWithReason mapped to reasons.
func possibleReason(ci *codeInfo, nsn string) string {
	if ci == nil {
		return ReasonInvalidCountryCode
	}
	m := ci.mainMeta.get()
	var r phonenumbers.ValidationResult
	if m.generalEmpty {
		switch {
		case len(nsn) < phonenumbers.MIN_LENGTH_FOR_NSN:
			r = phonenumbers.TOO_SHORT
		case len(nsn) > phonenumbers.MAX_LENGTH_FOR_NSN:
			r = phonenumbers.TOO_LONG
		default:
			r = phonenumbers.IS_POSSIBLE
		}
	} else {
		r = m.testLength(len(nsn))
	}
	switch r {
	case phonenumbers.TOO_SHORT:
		return ReasonTooShort
	case phonenumbers.TOO_LONG:
		return ReasonTooLong
	case phonenumbers.INVALID_COUNTRY_CODE:
		return ReasonInvalidCountryCode
	}
	return ReasonInvalid
}

type numberClass uint8

const (
	classUnknown numberClass = iota // not a valid number
	classNotSMS                     // valid, but of a kind Normalize rejects
	classSMS
)

// classify mirrors the library's number typing, in its order, but only as far as
// Normalize needs: whether the type is UNKNOWN, one of the kinds that
// cannot receive SMS, or another. Fixed line against fixed-line-or-mobile
// does not matter, so mobile is not checked once fixed line matched.
func (m *metaInfo) classify(nsn string) numberClass {
	switch {
	case !m.general.matches(nsn):
		return classUnknown
	case m.premium.matches(nsn), m.tollFree.matches(nsn), m.sharedCost.matches(nsn):
		return classNotSMS
	case m.voip.matches(nsn), m.personal.matches(nsn), m.pager.matches(nsn):
		return classSMS
	case m.uan.matches(nsn), m.voicemail.matches(nsn):
		return classNotSMS
	case m.fixed.matches(nsn):
		return classSMS
	case !m.sameMobileAndFixed && m.mobile.matches(nsn):
		return classSMS
	}
	return classUnknown
}

// parseFailure stands for the library's errors maybeExtractCountryCode can
// return.
type parseFailure uint8

const (
	failNone parseFailure = iota
	failInvalidCountryCode
	failTooShortAfterIDD
)

// extractCountryCode mirrors maybeExtractCountryCode on the digits of the
// number; hasPlus stands for the leading '+' the library strips first.
// A nil error with cc == 0 means the number carries no country code.
func extractCountryCode(t *tables, digits string, hasPlus bool, meta *metaInfo) (int, string, parseFailure) {
	full := digits
	fromDefault := !hasPlus
	if fromDefault && meta != nil {
		if rest, ok := meta.stripIDD(digits); ok {
			full, fromDefault = rest, false
		}
	}
	if !fromDefault {
		if len(full) <= phonenumbers.MIN_LENGTH_FOR_NSN {
			return 0, "", failTooShortAfterIDD
		}
		if full[0] != '0' {
			for i := 1; i <= phonenumbers.MAX_LENGTH_COUNTRY_CODE && i <= len(full); i++ {
				if cc := atoi(full[:i]); t.code(cc) != nil {
					return cc, full[i:], failNone
				}
			}
		}
		return 0, "", failInvalidCountryCode
	}
	if meta != nil && strings.HasPrefix(digits, meta.ccText) {
		potential := meta.stripNationalPrefix(digits[len(meta.ccText):])
		fullValid := meta.general.pattern(digits)
		nationalValid := meta.general.pattern(potential)
		if (!fullValid && nationalValid) || meta.testLength(len(digits)) == phonenumbers.TOO_LONG {
			return meta.cc, potential, failNone
		}
	}
	return 0, "", failNone
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// stripIDD mirrors parsePrefixAsIdd on a digit string.
func (m *metaInfo) stripIDD(digits string) (string, bool) {
	end := 0
	if m.iddLiteral != "" {
		if !strings.HasPrefix(digits, m.iddLiteral) {
			return digits, false
		}
		end = len(m.iddLiteral)
	} else {
		loc := m.idd.FindStringIndex(digits)
		if loc == nil || loc[0] != 0 {
			return digits, false
		}
		end = loc[1]
	}
	// Country codes never start with 0, so a 0 right after the prefix means
	// it was not an international prefix after all.
	if end < len(digits) && digits[end] == '0' {
		return digits, false
	}
	return digits[end:], true
}

// stripNationalPrefix mirrors maybeStripNationalPrefixAndCarrierCode
// (without the carrier code, which Normalize never reads).
func (m *metaInfo) stripNationalPrefix(num string) string {
	if num == "" || m.np == nil {
		return num
	}
	if m.npLiteral != "" {
		if !strings.HasPrefix(num, m.npLiteral) {
			return num
		}
		rest := num[len(m.npLiteral):]
		if m.general.pattern(num) && !m.general.pattern(rest) {
			return num
		}
		return rest
	}
	groups := m.np.FindStringSubmatchIndex(num)
	if groups == nil {
		return num
	}
	viableOriginal := m.general.pattern(num)
	numGroups := len(groups)/2 - 1
	if m.transform == "" || groups[numGroups*2] < 0 {
		rest := num[groups[1]:]
		if viableOriginal && !m.general.pattern(rest) {
			return num
		}
		return rest
	}
	transformed := m.np.ReplaceAllString(num, m.transform)
	if viableOriginal && !m.general.pattern(transformed) {
		return num
	}
	return transformed
}

// testLength mirrors testNumberLength for the general description (the
// only one Normalize's calls use).
func (m *metaInfo) testLength(n int) phonenumbers.ValidationResult {
	pl := m.possibleLengths
	if pl[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	for _, l := range m.localLengths {
		if int(l) == n {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
		}
	}
	switch minLen := int(pl[0]); {
	case minLen == n:
		return phonenumbers.IS_POSSIBLE
	case minLen > n:
		return phonenumbers.TOO_SHORT
	case int(pl[len(pl)-1]) < n:
		return phonenumbers.TOO_LONG
	}
	for _, l := range pl[1:] {
		if int(l) == n {
			return phonenumbers.IS_POSSIBLE
		}
	}
	return phonenumbers.INVALID_LENGTH
}

// digitsOf returns the n ASCII digits of s, without copying when s is
// nothing but digits.
func digitsOf(s string, n int) string {
	if len(s) == n {
		return s
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}

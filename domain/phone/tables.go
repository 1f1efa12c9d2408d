package phone

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// The tables below hold the library's own metadata, indexed and with its
// patterns compiled exactly as the library compiles them, so that the fast
// path evaluates the same regular expressions on the same strings and
// cannot disagree with it. They are built once, on first use, from data
// embedded in the library binary.

// nonGeoRegion is the library's region code for non-geographic calling codes.
const nonGeoRegion = "001"

type tables struct {
	// regions holds every region code the library accepts as a default
	// region, mapped to its metadata.
	regions map[string]*metaInfo
	// codes is indexed by country calling code; nil means the library does
	// not know the code.
	codes [1000]*codeInfo
}

type codeInfo struct {
	cc int
	// plus is "+" followed by the code, the start of every E.164 string.
	plus string
	// regions is the library's region list for the code, main region first.
	regions []string
	// main is what GetRegionCodeForCountryCode returns.
	main string
	// mainMeta is the metadata the library picks for the code when parsing
	// and when judging possible lengths: the main region's, or the
	// non-geographic entity's.
	mainMeta *metaInfo
	// regionMeta[i] is the metadata for regions[i] as GetNumberType and
	// IsValidNumberForRegion look it up.
	regionMeta []*metaInfo
	// listMeta[i] is the metadata for regions[i] as the library looks it up
	// while choosing among regions sharing the code.
	listMeta []*metaInfo
}

var (
	tablesOnce sync.Once
	tbl        *tables
)

// loadTables returns nil when the metadata has a shape the fast path does
// not mirror (every such shape would make the library itself misbehave, so
// this is a guard against future metadata, not a known case).
func loadTables() *tables {
	tablesOnce.Do(func() { tbl = buildTables() })
	return tbl
}

func buildTables() *tables {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil
	}
	byRegion := map[string]*metaInfo{}
	nonGeo := map[int]*metaInfo{}
	for _, m := range coll.GetMetadata() {
		mi := &metaInfo{meta: m}
		if m.GetId() == nonGeoRegion {
			nonGeo[int(m.GetCountryCode())] = mi
		} else {
			byRegion[m.GetId()] = mi
		}
	}
	t := &tables{regions: map[string]*metaInfo{}}
	for region := range phonenumbers.GetSupportedRegions() {
		mi := byRegion[region]
		if mi == nil {
			return nil
		}
		t.regions[region] = mi
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		if cc < 1 || cc >= len(t.codes) {
			return nil
		}
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		ci := &codeInfo{cc: cc, plus: "+" + strconv.Itoa(cc), regions: regions, main: "ZZ"}
		if len(regions) > 0 {
			ci.main = regions[0]
		}
		forCode := func(region string) *metaInfo {
			if region == nonGeoRegion {
				return nonGeo[cc]
			}
			return t.regions[region]
		}
		ci.mainMeta = forCode(ci.main)
		if ci.mainMeta == nil {
			return nil
		}
		for _, r := range regions {
			m := forCode(r)
			if m == nil {
				return nil
			}
			ci.regionMeta = append(ci.regionMeta, m)
			if len(regions) > 1 {
				lm := t.regions[r]
				if lm == nil {
					return nil
				}
				ci.listMeta = append(ci.listMeta, lm)
			}
		}
		t.codes[cc] = ci
	}
	for _, mi := range t.regions {
		if !metaShapeOK(mi.meta) {
			return nil
		}
	}
	for _, mi := range nonGeo {
		if !metaShapeOK(mi.meta) {
			return nil
		}
	}
	return t
}

// metaShapeOK rejects metadata the library would dereference or index
// without checking (it would panic, so there is nothing to mirror).
func metaShapeOK(m *phonenumbers.PhoneMetadata) bool {
	for _, d := range []*phonenumbers.PhoneNumberDesc{
		m.GetGeneralDesc(), m.GetFixedLine(), m.GetMobile(), m.GetTollFree(),
		m.GetPremiumRate(), m.GetSharedCost(), m.GetPersonalNumber(), m.GetVoip(),
		m.GetPager(), m.GetUan(), m.GetVoicemail(),
	} {
		if d == nil {
			return false
		}
	}
	return len(m.GetGeneralDesc().GetPossibleLength()) > 0
}

func (t *tables) code(cc int) *codeInfo {
	if cc < 1 || cc >= len(t.codes) {
		return nil
	}
	return t.codes[cc]
}

// metaInfo is one region's (or non-geographic entity's) metadata with its
// patterns compiled. Compilation is deferred to first use because most
// deployments only ever see a handful of regions.
type metaInfo struct {
	meta *phonenumbers.PhoneMetadata
	once sync.Once

	cc     int
	ccText string

	// idd is the international prefix pattern; iddLiteral is set when it is
	// a plain digit string, whose unanchored leftmost match is at position 0
	// exactly when the number starts with it.
	idd        *regexp.Regexp
	iddLiteral string

	// np matches the national prefix for parsing; nil when there is none.
	// npLiteral is set when the prefix is a plain digit string and there is
	// no transform rule, the case where stripping is a prefix cut.
	np        *regexp.Regexp
	npLiteral string
	transform string

	general, premium, tollFree, sharedCost, voip, personal, pager, uan, voicemail, fixed, mobile desc

	sameMobileAndFixed bool
	possibleLengths    []int32
	localLengths       []int32
	generalEmpty       bool

	// leading matches the region's leading digits; nil when there are none.
	leading *regexp.Regexp
}

func (m *metaInfo) get() *metaInfo {
	m.once.Do(m.compile)
	return m
}

func (m *metaInfo) compile() {
	md := m.meta
	m.cc = int(md.GetCountryCode())
	m.ccText = strconv.Itoa(m.cc)

	idd := md.GetInternationalPrefix()
	if isDigits(idd) {
		m.iddLiteral = idd
	} else {
		m.idd = regexp.MustCompile(idd)
	}

	m.transform = md.GetNationalPrefixTransformRule()
	if npfp := md.GetNationalPrefixForParsing(); npfp != "" {
		m.np = regexp.MustCompile("^(?:" + npfp + ")")
		if isDigits(npfp) && m.transform == "" {
			m.npLiteral = npfp
		}
	}

	m.general = newDesc(md.GetGeneralDesc())
	m.premium = newDesc(md.GetPremiumRate())
	m.tollFree = newDesc(md.GetTollFree())
	m.sharedCost = newDesc(md.GetSharedCost())
	m.voip = newDesc(md.GetVoip())
	m.personal = newDesc(md.GetPersonalNumber())
	m.pager = newDesc(md.GetPager())
	m.uan = newDesc(md.GetUan())
	m.voicemail = newDesc(md.GetVoicemail())
	m.fixed = newDesc(md.GetFixedLine())
	m.mobile = newDesc(md.GetMobile())

	m.sameMobileAndFixed = md.GetSameMobileAndFixedLinePattern()
	m.possibleLengths = md.GetGeneralDesc().GetPossibleLength()
	m.localLengths = md.GetGeneralDesc().GetPossibleLengthLocalOnly()
	m.generalEmpty = md.GetGeneralDesc().GetNationalNumberPattern() == ""

	if ld := md.GetLeadingDigits(); ld != "" {
		m.leading = regexp.MustCompile("^(?:" + ld + ")")
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// desc is a PhoneNumberDesc as the library evaluates it: the pattern
// anchored at both ends, plus the possible-lengths list it consults first.
type desc struct {
	re *regexp.Regexp
	// lengths has bit n set when n is a listed possible length; anyLength
	// when the list is empty (the library then skips the length check).
	lengths   uint64
	anyLength bool
	// lead has bit d set when the pattern can match a string starting with
	// digit d. It lets most type checks finish without running the regex:
	// for a region's mobile number, the toll-free, premium and fixed-line
	// patterns usually start with other digits.
	lead uint16
}

func newDesc(d *phonenumbers.PhoneNumberDesc) desc {
	pattern := "^(?:" + d.GetNationalNumberPattern() + ")$"
	out := desc{re: regexp.MustCompile(pattern), anyLength: len(d.GetPossibleLength()) == 0, lead: allDigits}
	for _, l := range d.GetPossibleLength() {
		// Lengths outside the mask (the library's -1 "no numbers" marker)
		// can never equal a national number's length.
		if l >= 0 && l < 64 {
			out.lengths |= 1 << uint(l)
		}
	}
	if re, err := syntax.Parse(pattern, syntax.Perl); err == nil {
		out.lead, _ = leadDigits(re.Simplify())
	}
	return out
}

// pattern reports whether s matches the anchored pattern, as the library's
// regex checks outside number typing do (no length check).
func (d *desc) pattern(s string) bool {
	if s != "" {
		if c := s[0] - '0'; c < 10 && d.lead&(1<<c) == 0 {
			return false
		}
	}
	return d.re.MatchString(s)
}

// matches mirrors isNumberMatchingDesc: possible lengths first, then the
// pattern (the library runs the same pattern twice; once decides it).
func (d *desc) matches(nsn string) bool {
	if !d.anyLength && (len(nsn) >= 64 || d.lengths&(1<<uint(len(nsn))) == 0) {
		return false
	}
	return d.pattern(nsn)
}

const allDigits = 1<<10 - 1

// leadDigits over-approximates the digits that can start a non-empty match
// of re, and reports whether re can match the empty string. Over-
// approximating is what keeps the pre-filter exact: it only ever skips a
// regex that could not have matched. Zero-width assertions are treated as
// always true, which only adds strings, and anything unrecognised gives up
// to "any digit".
func leadDigits(re *syntax.Regexp) (set uint16, nullable bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return 0, false
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return 0, true
		}
		return runeRangeDigits(re.Rune[0], re.Rune[0]), false
	case syntax.OpCharClass:
		var s uint16
		for i := 0; i+1 < len(re.Rune); i += 2 {
			s |= runeRangeDigits(re.Rune[i], re.Rune[i+1])
		}
		return s, false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return allDigits, false
	case syntax.OpCapture, syntax.OpPlus:
		return leadDigits(re.Sub[0])
	case syntax.OpStar, syntax.OpQuest:
		s, _ := leadDigits(re.Sub[0])
		return s, true
	case syntax.OpRepeat:
		if re.Max == 0 {
			return 0, true
		}
		s, n := leadDigits(re.Sub[0])
		return s, n || re.Min == 0
	case syntax.OpConcat:
		var s uint16
		for _, sub := range re.Sub {
			ss, n := leadDigits(sub)
			s |= ss
			if !n {
				return s, false
			}
		}
		return s, true
	case syntax.OpAlternate:
		var s uint16
		nullable := false
		for _, sub := range re.Sub {
			ss, n := leadDigits(sub)
			s |= ss
			nullable = nullable || n
		}
		return s, nullable
	}
	return allDigits, true
}

// runeRangeDigits is the set of ASCII digits in [lo, hi]. Case folding is
// irrelevant: no rune folds to or from an ASCII digit.
func runeRangeDigits(lo, hi rune) uint16 {
	var s uint16
	for d := rune('0'); d <= '9'; d++ {
		if lo <= d && d <= hi {
			s |= 1 << uint(d-'0')
		}
	}
	return s
}

package phone

import (
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/quick"

	"github.com/nyaruka/phonenumbers"
)

// focusRegions are where campaigns mostly send, plus regions whose metadata
// exercises the unusual parsing rules: national prefixes rewritten by a
// transform (AR, MX, BR, AG, GG, JP, SM, NF, MG), regex international
// prefixes (AU, BR, CO, SG, HK, KR, UY, CN), country codes shared between
// regions (US/CA/AG, GB/GG/JE/IM, RU/KZ, FI/AX, AU/CC/CX, IT/VA, NO/SJ),
// leading zeros kept in the national number (IT, CI, GA) and national
// prefixes that are also valid number starts (BY, LT, CR, LU).
var focusRegions = []string{
	"AO", "PT", "US", "GB", "BR", "NG", "ZA", "FR", "DE", "IN",
	"AR", "MX", "CA", "AG", "GG", "JE", "IM", "JP", "SM", "NF", "MG",
	"AU", "CC", "CX", "CO", "SG", "HK", "KR", "UY", "CN", "RU", "KZ",
	"FI", "AX", "IT", "VA", "NO", "SJ", "CI", "GA", "BY", "LT", "CR", "LU",
	"BO", "ID", "IL", "TW", "MU", "SC", "PE", "CL", "GU", "VI", "MZ", "CV",
}

// oddRegions are defaults the library rejects or treats specially.
var oddRegions = []string{"", "ZZ", "001", "XX", "ao", "Pt", "UK", "A", "AOO"}

var phoneTypes = []phonenumbers.PhoneNumberType{
	phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
	phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP,
	phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER, phonenumbers.UAN,
	phonenumbers.VOICEMAIL,
}

type example struct {
	cc  int
	nsn string
}

type corpus struct {
	regions  []string // every supported region, sorted
	examples map[string][]example
	nonGeo   []example
	meta     map[string]*phonenumbers.PhoneMetadata
}

var (
	corpusOnce sync.Once
	corpusData *corpus
)

// loadCorpus seeds generation with the library's example numbers, which
// sit inside real ranges, so that mutations land near range boundaries
// (valid, invalid, too short, too long) instead of mostly far outside.
func loadCorpus() *corpus {
	corpusOnce.Do(func() {
		c := &corpus{examples: map[string][]example{}, meta: map[string]*phonenumbers.PhoneMetadata{}}
		all, err := phonenumbers.MetadataCollection()
		if err != nil {
			panic(err)
		}
		for _, md := range all.GetMetadata() {
			c.meta[md.GetId()] = md
		}
		for r := range phonenumbers.GetSupportedRegions() {
			c.regions = append(c.regions, r)
			for _, typ := range phoneTypes {
				if n := phonenumbers.GetExampleNumberForType(r, typ); n != nil {
					c.examples[r] = append(c.examples[r], example{int(n.GetCountryCode()), phonenumbers.GetNationalSignificantNumber(n)})
				}
			}
		}
		slices.Sort(c.regions)
		codes := make([]int, 0)
		for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
			codes = append(codes, cc)
		}
		slices.Sort(codes)
		for _, cc := range codes {
			if n := phonenumbers.GetExampleNumberForNonGeoEntity(cc); n != nil {
				c.nonGeo = append(c.nonGeo, example{cc, phonenumbers.GetNationalSignificantNumber(n)})
			}
		}
		corpusData = c
	})
	return corpusData
}

type gen struct {
	r *rand.Rand
	c *corpus
}

func (g gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g gen) region() string {
	switch p := g.r.IntN(100); {
	case p < 55:
		return g.pick(focusRegions)
	case p < 95:
		return g.pick(g.c.regions)
	default:
		return g.pick(oddRegions)
	}
}

// mutate nudges a real national number: one digit changed, dropped,
// added, or the number cut or extended, or left alone.
func (g gen) mutate(nsn string) string {
	if nsn == "" {
		return g.digits(1 + g.r.IntN(12))
	}
	i := g.r.IntN(len(nsn))
	d := strconv.Itoa(g.r.IntN(10))
	switch g.r.IntN(12) {
	case 0:
		return nsn[:i] + d + nsn[i+1:]
	case 1:
		return nsn[:i] + nsn[i+1:]
	case 2:
		return nsn[:i] + d + nsn[i:]
	case 3:
		return nsn[:i]
	case 4:
		return nsn + g.digits(1+g.r.IntN(4))
	case 5:
		// Keep the first digits (often the range) and randomise the rest.
		k := min(len(nsn), 1+g.r.IntN(4))
		return nsn[:k] + g.digits(len(nsn)-k)
	default:
		return nsn
	}
}

// idd picks an international prefix a caller in region could dial: the
// region's own when it is a plain digit string, else a common one.
func (g gen) idd(region string) string {
	if p := phonenumbers.GetNddPrefixForRegion(region, true); p != "" && g.r.IntN(8) == 0 {
		return p // a national prefix where an international one is expected
	}
	if md := g.c.meta[strings.ToUpper(region)]; md != nil {
		if p := md.GetPreferredInternationalPrefix(); p != "" && g.r.IntN(2) == 0 {
			return strings.ReplaceAll(p, "~", "")
		}
		if isDigits(md.GetInternationalPrefix()) {
			return md.GetInternationalPrefix()
		}
	}
	return g.pick([]string{"00", "011", "010", "001", "0011", "00 ", "8~10"})
}

// number builds the digits of one input, with any prefix, as a customer
// might type them in region.
func (g gen) number(region string) string {
	var ex example
	exs := g.c.examples[strings.ToUpper(region)]
	switch p := g.r.IntN(100); {
	case p < 70 && len(exs) > 0:
		ex = exs[g.r.IntN(len(exs))]
	case p < 80:
		r := g.pick(g.c.regions)
		if len(g.c.examples[r]) == 0 {
			return g.digits(3 + g.r.IntN(18))
		}
		ex = g.c.examples[r][g.r.IntN(len(g.c.examples[r]))]
	case p < 85 && len(g.c.nonGeo) > 0:
		ex = g.c.nonGeo[g.r.IntN(len(g.c.nonGeo))]
	default:
		s := g.digits(3 + g.r.IntN(18))
		if g.r.IntN(2) == 0 {
			s = "+" + s
		}
		return s
	}
	nsn := g.mutate(ex.nsn)
	cc := strconv.Itoa(ex.cc)
	if g.r.IntN(20) == 0 {
		cc = g.mutate(cc)
	}
	switch g.r.IntN(12) {
	case 0, 1, 2:
		return "+" + cc + nsn
	case 3, 4:
		return nsn
	case 5:
		return phonenumbers.GetNddPrefixForRegion(region, true) + nsn
	case 6:
		return g.idd(region) + cc + nsn
	case 7:
		return cc + nsn
	case 8:
		return "+" + cc + "0" + nsn // trunk zero kept after the country code
	case 9:
		return strings.Repeat("0", 1+g.r.IntN(3)) + nsn
	case 10:
		return strings.Repeat("+", 1+g.r.IntN(2)) + g.pick([]string{"0", "00", "", "0" + cc}) + cc + nsn
	default:
		return cc + phonenumbers.GetNddPrefixForRegion(region, true) + nsn
	}
}

var (
	separators = []string{" ", " ", "-", ".", "(", ")", "  ", " - ", ") ", " (", "--", ".."}
	// garbage covers what the fast path hands back: letters (vanity
	// numbers, extension labels), extension marks, RFC 3966 syntax,
	// non-ASCII digits and pluses, other whitespace and punctuation.
	garbage = []string{
		"a", "x", "X", "ext", " ext. 12", " x 3", "#", "*", ";", ",", ",,", "/", "~", "\t", "\n",
		"\u00a0", "\u3000", "\uff0b", "\u0663", "\uff15", "tel:", ";phone-context=+44", ";isub=12",
		";ext=7", "CALL", "ABC", "&&x]", "_", ":", "'", "\"", "é", "\u2010", "[", "]", "\uff08",
	}
)

// format dresses digits as typed: separators between digits, brackets,
// surrounding spaces, and sometimes characters the fast path does not take.
func (g gen) format(s string) string {
	var b strings.Builder
	if g.r.IntN(10) == 0 {
		b.WriteString(g.pick([]string{" ", "(", "- ", ". ", "  ", "\t"}))
	}
	sepRate := []int{0, 0, 4, 3, 2}[g.r.IntN(5)]
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if sepRate > 0 && i+1 < len(s) && g.r.IntN(sepRate) == 0 {
			b.WriteString(g.pick(separators))
		}
	}
	out := b.String()
	if g.r.IntN(8) == 0 {
		i := g.r.IntN(len(out) + 1)
		out = out[:i] + g.pick(garbage) + out[i:]
	}
	if g.r.IntN(10) == 0 {
		out += g.pick([]string{" ", ")", "-", ".", " \n"})
	}
	return out
}

func isFastAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '+', c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return false
		}
	}
	return true
}

type outcome struct {
	n      Number
	reason string
}

// checkAgreement compares Normalize with the reference path on one input.
// Input the fast path declines goes to the reference path unchanged, so
// for it the check is that it was declined only for a reason: a character
// outside digits, '+' and separators.
func checkAgreement(t *testing.T, raw, region string) (fast, valid bool) {
	t.Helper()
	s := strings.TrimSpace(raw)
	if s != "" && len(s) <= maxInput {
		if _, _, fast = normalizeFast(s, strings.ToUpper(region)); !fast {
			if isFastAlphabet(s) {
				t.Errorf("Normalize(%q, %q): input of digits and separators fell back to the library", raw, region)
			}
			return false, false
		}
	}
	var got, want outcome
	got.n, got.reason = Normalize(raw, region)
	want.n, want.reason = normalizeFull(raw, region)
	if got != want {
		t.Errorf("Normalize(%q, %q) = %+v %q, reference gives %+v %q", raw, region, got.n, got.reason, want.n, want.reason)
	}
	return fast, got.reason == ""
}

// TestFastPathAgreesWithLibrary is the property the fast path is built on:
// for every input and region, Normalize answers exactly what the library
// path answers, number and reason alike.
func TestFastPathAgreesWithLibrary(t *testing.T) {
	if loadTables() == nil {
		t.Fatal("fast path disabled: library metadata has a shape it does not mirror")
	}
	// The reference path allocates heavily (more so under -race, where
	// sync.Pool drops items); fewer collections keep the run short.
	defer debug.SetGCPercent(debug.SetGCPercent(800))
	const workers = 4
	perWorker := 16000
	if raceDetector {
		perWorker = 3750
	}
	var mu sync.Mutex
	total, fast, valid := 0, 0, 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := gen{r: rand.New(rand.NewPCG(20240611, uint64(w))), c: loadCorpus()}
			n, f, v := 0, 0, 0
			for range perWorker {
				region := g.region()
				raw := g.format(g.number(region))
				fast, valid := checkAgreement(t, raw, region)
				if fast {
					f++
				}
				if valid {
					v++
				}
				n++
			}
			mu.Lock()
			total, fast, valid = total+n, fast+f, valid+v
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("%d inputs, %d answered by the fast path, %d valid", total, fast, valid)
	// Guard the generator itself: it must keep producing mostly fast-path
	// input and a real share of valid numbers, or the property says little.
	if fast < total*3/4 || valid < total/5 {
		t.Fatalf("generator drifted: %d inputs, %d fast, %d valid", total, fast, valid)
	}
}

// TestFastPathAgreesOnRandomDigitStrings uses testing/quick to throw
// unstructured digit strings, with and without '+', at every focus region.
func TestFastPathAgreesOnRandomDigitStrings(t *testing.T) {
	cfg := &quick.Config{MaxCount: 10000, Rand: mrand.New(mrand.NewSource(7))}
	if raceDetector {
		cfg.MaxCount = 3000
	}
	prop := func(seed uint64, length uint8, plus bool, regionIdx uint8) bool {
		g := gen{r: rand.New(rand.NewPCG(seed, 1))}
		s := g.digits(3 + int(length)%18)
		if plus {
			s = "+" + s
		}
		fast, _ := checkAgreement(t, s, focusRegions[int(regionIdx)%len(focusRegions)])
		return fast
	}
	if err := quick.Check(prop, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestFastPathAgreesOnEdgeCases pins inputs that walk the library's less
// travelled branches: retrying after '+', international prefixes followed
// by a zero, a default country code written without '+', national prefixes
// rewritten by transform rules, shared country codes and odd regions.
func TestFastPathAgreesOnEdgeCases(t *testing.T) {
	inputs := []string{
		"12", "123", "+12", "+123", "1 2", "00", "000", "+0", "+00", "++244923456789", "+ 244 923 456 789",
		"+00244923456789", "+0244923456789", "+000244923456789", "00244923456789", "000244923456789",
		"00 0351912345678", "0", "+", "++", "+1", "+12 3", "(+244) 923-456-789", "(923) 456-789",
		"244923456789", "2449234567890", "244 244 923 456", "244", "2440", "244923", "+244", "+2440",
		"923456789", "0923456789", "00923456789", "+244 0923 456 789", "+351 912 345 678", "+1 415 555 0123",
		"1 415 555 0123", "011 44 20 7946 0958", "0044 20 7946 0958", "+44 (0) 20 7946 0958", "020 7946 0958",
		"07911 123456", "+44 7911 123456", "01481 256789", "1481 256789", "256789", "7700 900123",
		"011 15 2345-6789", "0 11 15 2345 6789", "+54 9 11 2345 6789", "+54 11 15 2345 6789", "15 2345 6789",
		"044 55 1234 5678", "+52 1 55 1234 5678", "01 55 1234 5678", "0 21 2345 6789", "0 15 21 2345 6789",
		"+55 21 98765 4321", "90 15 21 98765 4321", "4601234", "1 268 460 1234", "+1 268 460 1234",
		"+7 701 123 4567", "8 701 123 4567", "+7 912 345 67 89", "+358 18 12345", "+39 06 698 12345",
		"+379 06 698 12345", "+61 8 9162 1234", "+672 3 12345", "+800 1234 5678", "+882 1234 5678",
		"+883 510 012345", "+979 123 456 789", "+870 301 234 567", "+888 123 456 789", "+808 1234 5678",
		"+225 01 23 45 67 89", "+241 06 03 12 34", "+39 312 345 6789", "80 29 123 4567", "8 029 123 4567",
		"0001234567", "+44 1481 256789", "1800 123 456", "0011 61 2 1234 5678", "+1 800 555 0199",
		"+351 760 123 456", "1 800 555 0199", "+999 123 456 789", "+0 123", "+1 (415) 555-0123",
		"+244.923.456.789", "+244-923-456-789", "923.456.789", "(92) 345 6789 ()", "((923))456789",
		"9234567890123456789", "+24492345678901234567", "00000000000000000000", "+11111111111111111",
		strings.Repeat("9", 64), "+" + strings.Repeat("1", 63), "1234567890123456789012345678901234567890",
	}
	regions := append(slices.Clone(focusRegions[:24]), oddRegions...)
	for _, region := range regions {
		for _, raw := range inputs {
			checkAgreement(t, raw, region)
		}
	}
	// A few shapes against every region, for metadata no list above names.
	for _, raw := range []string{"+00244923456789", "1234567", "0 123 456 789", "00 1 415 555 0123", "(0) 12 34 56 78 90", "+12345"} {
		for _, r := range loadCorpus().regions {
			checkAgreement(t, raw, r)
		}
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	sample := func() string {
		g := gen{r: rand.New(rand.NewPCG(1, 2)), c: loadCorpus()}
		var b strings.Builder
		for range 50 {
			region := g.region()
			fmt.Fprintf(&b, "%s|%s\n", region, g.format(g.number(region)))
		}
		return b.String()
	}
	if a, b := sample(), sample(); a != b {
		t.Fatal("same seed produced different inputs; failures would not reproduce")
	}
}

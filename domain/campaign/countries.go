package campaign

import "sort"

// CountryCodes returns the ISO 3166-1 alpha-2 codes country_alpha2
// accepts, sorted.
func CountryCodes() []string {
	out := make([]string, 0, len(isoAlpha2))
	for c := range isoAlpha2 {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

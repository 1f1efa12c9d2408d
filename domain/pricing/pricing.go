// Package pricing says what a message costs, in integer minor units.
package pricing

// Currency of every price and balance. One currency keeps balances a plain
// sum; a multi-currency account would need an exchange step at debit time.
const Currency = "AOA"

// Table holds per-segment prices by destination country, with a default for
// countries not listed.
type Table struct {
	ByCountry map[string]int64
	Default   int64
}

// UnitPrice is the price of one segment to a number of the given country.
func (t Table) UnitPrice(country string) int64 {
	if p, ok := t.ByCountry[country]; ok {
		return p
	}
	return t.Default
}

// Cost of one message of the given number of segments.
func (t Table) Cost(country string, segments int) int64 {
	return t.UnitPrice(country) * int64(segments)
}

// Default prices in cêntimos of kwanza per segment.
func Default() Table {
	return Table{
		ByCountry: map[string]int64{"AO": 500, "PT": 2500},
		Default:   5000,
	}
}

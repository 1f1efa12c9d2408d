// Package pricing says what a message costs, in integer minor units.
package pricing

import (
	"fmt"
	"regexp"
)

// Currency of every price and balance. One currency keeps balances a plain
// sum; a multi-currency account would need an exchange step at debit time.
const Currency = "AOA"

// Table holds per-segment prices by destination country, with a default for
// countries not listed, and optional per-provider overrides (a route through
// an aggregator can cost more than the same destination through an operator).
type Table struct {
	ByCountry map[string]int64
	Default   int64
	// ByProvider overrides the destination prices for messages carried by
	// a provider; what it does not list falls back to the tables above.
	ByProvider map[string]Rates
}

// Rates are one provider's prices.
type Rates struct {
	ByCountry map[string]int64
	// Default, when set, prices the provider's destinations not in
	// ByCountry; otherwise the table's destination prices apply.
	Default int64
}

// UnitPrice is the price of one segment to a number of the given country,
// whichever provider carries it.
func (t Table) UnitPrice(country string) int64 {
	if p, ok := t.ByCountry[country]; ok {
		return p
	}
	return t.Default
}

// UnitPriceVia is the price of one segment to a number of the given country
// carried by provider: the provider's price for the country, else its own
// default, else the destination's price.
func (t Table) UnitPriceVia(provider, country string) int64 {
	if r, ok := t.ByProvider[provider]; ok {
		if p, ok := r.ByCountry[country]; ok {
			return p
		}
		if r.Default > 0 {
			return r.Default
		}
	}
	return t.UnitPrice(country)
}

// MaxUnitPrice is the highest price of one segment to country over every
// provider: a bound that no route can exceed.
func (t Table) MaxUnitPrice(country string) int64 {
	m := t.UnitPrice(country)
	for p := range t.ByProvider {
		m = max(m, t.UnitPriceVia(p, country))
	}
	return m
}

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// Validate rejects tables that would price a message at zero or below (a
// free route is a configuration mistake, never a business decision here)
// or that name something other than an ISO 3166-1 alpha-2 country.
func (t Table) Validate() error {
	check := func(where string, m map[string]int64, def int64, defRequired bool) error {
		if defRequired && def <= 0 || def < 0 {
			return fmt.Errorf("pricing: %sdefault price must be positive, got %d", where, def)
		}
		for c, p := range m {
			if !countryCode.MatchString(c) {
				return fmt.Errorf("pricing: %s%q is not an ISO 3166-1 alpha-2 country code", where, c)
			}
			if p <= 0 {
				return fmt.Errorf("pricing: %sprice for %s must be positive, got %d", where, c, p)
			}
		}
		return nil
	}
	if err := check("", t.ByCountry, t.Default, true); err != nil {
		return err
	}
	for name, r := range t.ByProvider {
		if err := check("provider "+name+": ", r.ByCountry, r.Default, false); err != nil {
			return err
		}
	}
	return nil
}

package pricing

import (
	"strings"
	"testing"
)

func TestUnitPriceVia(t *testing.T) {
	tb := Table{
		ByCountry: map[string]int64{"AO": 500, "PT": 2500},
		Default:   5000,
		ByProvider: map[string]Rates{
			"global": {ByCountry: map[string]int64{"PT": 3000}, Default: 6000},
			"unitel": {ByCountry: map[string]int64{"AO": 400}},
		},
	}
	tests := []struct {
		provider, country string
		want              int64
	}{
		{"unitel", "AO", 400},   // provider's own price
		{"unitel", "PT", 2500},  // no provider default: destination price
		{"unitel", "FR", 5000},  // ... or the table default
		{"global", "PT", 3000},  // provider's own price
		{"global", "FR", 6000},  // provider default beats the table's
		{"global", "AO", 6000},  // provider default beats the destination's
		{"movicel", "AO", 500},  // provider without overrides
		{"movicel", "", 5000},   // non-geographic number
		{"movicel", "ZZ", 5000}, // unknown country
	}
	for _, tt := range tests {
		if got := tb.UnitPriceVia(tt.provider, tt.country); got != tt.want {
			t.Errorf("UnitPriceVia(%q, %q) = %d, want %d", tt.provider, tt.country, got, tt.want)
		}
	}
	if got := tb.MaxUnitPrice("AO"); got != 6000 {
		t.Errorf("MaxUnitPrice(AO) = %d, want 6000", got)
	}
}

func TestValidate(t *testing.T) {
	if err := (Table{ByCountry: map[string]int64{"AO": 500, "PT": 2500}, Default: 5000}).Validate(); err != nil {
		t.Fatalf("a valid table: %v", err)
	}
	bad := []struct {
		name string
		t    Table
		want string
	}{
		{"zero default", Table{Default: 0}, "default price"},
		{"negative price", Table{Default: 1, ByCountry: map[string]int64{"AO": -1}}, "price for AO"},
		{"lowercase country", Table{Default: 1, ByCountry: map[string]int64{"ao": 1}}, `"ao"`},
		{"free provider route", Table{Default: 1, ByProvider: map[string]Rates{"x": {ByCountry: map[string]int64{"AO": 0}}}}, "provider x"},
	}
	for _, b := range bad {
		err := b.t.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: Validate() = %v, want an error mentioning %s", b.name, err, b.want)
		}
	}
}

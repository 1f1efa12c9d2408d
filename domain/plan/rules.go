package plan

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/routing"
)

// Rules are the tables a plan is computed with, and the providers'
// contracted throughput that dispatchers honour.
type Rules struct {
	Routes *routing.Table
	Prices pricing.Table
	// Throughput is each provider's limit in submissions per second, shared
	// by all its dispatchers; a provider not listed is not limited.
	Throughput map[string]float64
}

//go:embed rules.json
var defaultRules []byte

// DefaultRulesJSON is the rules file shipped in the binary.
func DefaultRulesJSON() []byte { return bytes.Clone(defaultRules) }

// rulesFile is the format of the rules file; see rules.json.
type rulesFile struct {
	Description string `json:"description"`
	Currency    string `json:"currency"`
	Routing     struct {
		Fallback string          `json:"fallback"`
		Routes   []routing.Route `json:"routes"`
	} `json:"routing"`
	Pricing struct {
		Default      int64            `json:"default"`
		Destinations map[string]int64 `json:"destinations"`
		Providers    map[string]struct {
			Default      int64            `json:"default"`
			Destinations map[string]int64 `json:"destinations"`
		} `json:"providers"`
	} `json:"pricing"`
	Providers map[string]struct {
		MaxPerSecond float64 `json:"max_per_second"`
		// How the provider is reached (an SMPP account or the simulator)
		// is not a rule: the provider adapters read these objects from
		// the same file (smsprovider.ParseLinks). They are named here
		// only so that any other key is refused.
		SMPP      json.RawMessage `json:"smpp,omitempty"`
		Simulated json.RawMessage `json:"simulated,omitempty"`
	} `json:"providers"`
}

// ParseRules reads a rules file. Unknown keys are errors: a misspelt key
// would otherwise silently leave a default price or route in place.
func ParseRules(b []byte) (Rules, error) {
	var f rulesFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Rules{}, fmt.Errorf("rules: %w", err)
	}
	if f.Currency != pricing.Currency {
		return Rules{}, fmt.Errorf("rules: currency %q is not the service's currency %s", f.Currency, pricing.Currency)
	}
	routes, err := routing.NewTable(f.Routing.Routes, f.Routing.Fallback)
	if err != nil {
		return Rules{}, fmt.Errorf("rules: %w", err)
	}
	prices := pricing.Table{ByCountry: f.Pricing.Destinations, Default: f.Pricing.Default, ByProvider: map[string]pricing.Rates{}}
	for name, p := range f.Pricing.Providers {
		if !routes.Has(name) {
			return Rules{}, fmt.Errorf("rules: pricing names provider %q, which no route uses", name)
		}
		prices.ByProvider[name] = pricing.Rates{ByCountry: p.Destinations, Default: p.Default}
	}
	if err := prices.Validate(); err != nil {
		return Rules{}, fmt.Errorf("rules: %w", err)
	}
	tp := map[string]float64{}
	for _, name := range slices.Sorted(maps.Keys(f.Providers)) {
		p := f.Providers[name]
		if !routes.Has(name) {
			return Rules{}, fmt.Errorf("rules: providers names %q, which no route uses", name)
		}
		if p.MaxPerSecond < 0 {
			return Rules{}, fmt.Errorf("rules: provider %s: max_per_second must not be negative", name)
		}
		if p.MaxPerSecond > 0 {
			tp[name] = p.MaxPerSecond
		}
	}
	return Rules{Routes: routes, Prices: prices, Throughput: tp}, nil
}

// DefaultRules are the shipped rules.
func DefaultRules() Rules {
	r, err := ParseRules(defaultRules)
	if err != nil {
		panic("shipped rules.json: " + err.Error())
	}
	return r
}

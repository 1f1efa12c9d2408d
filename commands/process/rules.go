package process

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"

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
	// Links says how each provider is reached; a provider without one has
	// no link (see Link).
	Links map[string]Link
}

// Unlinked are the routed providers without a link, sorted.
func (r Rules) Unlinked() []string {
	var out []string
	for _, p := range r.Routes.Providers() {
		if l := r.Links[p]; l.SMPP == nil && l.Simulated == nil {
			out = append(out, p)
		}
	}
	return out
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
		Link
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
	links := map[string]Link{}
	for name, p := range f.Providers {
		if !routes.Has(name) {
			return Rules{}, fmt.Errorf("rules: providers names %q, which no route uses", name)
		}
		if p.MaxPerSecond < 0 {
			return Rules{}, fmt.Errorf("rules: provider %s: max_per_second must not be negative", name)
		}
		if p.MaxPerSecond > 0 {
			tp[name] = p.MaxPerSecond
		}
		if err := p.Link.validate(name); err != nil {
			return Rules{}, err
		}
		if p.SMPP != nil || p.Simulated != nil {
			links[name] = p.Link
		}
	}
	return Rules{Routes: routes, Prices: prices, Throughput: tp, Links: links}, nil
}

// LoadRules reads the rules file at path, or the shipped rules when path is
// empty.
func LoadRules(path string) (Rules, error) {
	if path == "" {
		return DefaultRules(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Rules{}, err
	}
	r, err := ParseRules(b)
	if err != nil {
		return Rules{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// DefaultRules are the shipped rules.
func DefaultRules() Rules {
	r, err := ParseRules(defaultRules)
	if err != nil {
		panic("shipped rules.json: " + err.Error())
	}
	return r
}

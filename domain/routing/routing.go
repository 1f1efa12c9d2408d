// Package routing decides which provider carries a message to a number.
package routing

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Route maps an E.164 prefix (with the leading '+') to a provider.
type Route struct {
	Prefix   string `json:"prefix"`
	Provider string `json:"provider"`
}

// Table picks a provider by longest matching prefix, so a specific operator
// range can override its country's default.
type Table struct {
	routes   []Route // sorted by descending prefix length
	fallback string
}

var (
	prefixPattern = regexp.MustCompile(`^\+[0-9]{1,15}$`)
	// Provider names become Kafka topic and consumer group names, so they
	// keep to the characters those allow everywhere.
	providerPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

// ValidProvider reports whether name can name a provider.
func ValidProvider(name string) bool { return providerPattern.MatchString(name) }

// NewTable validates and indexes routes; fallback carries whatever no route
// matches.
func NewTable(routes []Route, fallback string) (*Table, error) {
	if !ValidProvider(fallback) {
		return nil, fmt.Errorf("routing: fallback provider %q must match %s", fallback, providerPattern)
	}
	rs := make([]Route, 0, len(routes))
	seen := map[string]string{}
	for _, r := range routes {
		if !prefixPattern.MatchString(r.Prefix) {
			return nil, fmt.Errorf("routing: prefix %q must be '+' followed by 1 to 15 digits", r.Prefix)
		}
		if !ValidProvider(r.Provider) {
			return nil, fmt.Errorf("routing: provider %q of prefix %s must match %s", r.Provider, r.Prefix, providerPattern)
		}
		if p, dup := seen[r.Prefix]; dup {
			return nil, fmt.Errorf("routing: prefix %s is routed twice (%s and %s)", r.Prefix, p, r.Provider)
		}
		seen[r.Prefix] = r.Provider
		rs = append(rs, r)
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Prefix) > len(rs[j].Prefix) })
	return &Table{routes: rs, fallback: fallback}, nil
}

// Provider returns the provider for an E.164 number.
func (t *Table) Provider(e164 string) string {
	for _, r := range t.routes {
		if strings.HasPrefix(e164, r.Prefix) {
			return r.Provider
		}
	}
	return t.fallback
}

// Providers lists every provider the table can return, so that a queue and
// a dispatcher exist for each before any message is routed.
func (t *Table) Providers() []string {
	seen := map[string]bool{t.fallback: true}
	out := []string{t.fallback}
	for _, r := range t.routes {
		if !seen[r.Provider] {
			seen[r.Provider] = true
			out = append(out, r.Provider)
		}
	}
	sort.Strings(out)
	return out
}

// Has reports whether the table can route to provider.
func (t *Table) Has(provider string) bool {
	if provider == t.fallback {
		return true
	}
	for _, r := range t.routes {
		if r.Provider == provider {
			return true
		}
	}
	return false
}

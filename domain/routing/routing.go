// Package routing decides which provider carries a message to a number.
package routing

import (
	"fmt"
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

// NewTable validates and indexes routes; fallback carries whatever no route
// matches.
func NewTable(routes []Route, fallback string) (*Table, error) {
	if fallback == "" {
		return nil, fmt.Errorf("routing: a fallback provider is required")
	}
	rs := make([]Route, 0, len(routes))
	for _, r := range routes {
		if !strings.HasPrefix(r.Prefix, "+") || r.Provider == "" {
			return nil, fmt.Errorf("routing: bad route %+v: prefix must start with '+' and name a provider", r)
		}
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

// Default is the table shipped with the service: Angolan and Portuguese
// mobile ranges by operator, everything else through an international
// aggregator.
func Default() *Table {
	t, err := NewTable([]Route{
		{"+24491", "movicel"}, {"+24499", "movicel"},
		{"+24492", "unitel"}, {"+24493", "unitel"}, {"+24494", "unitel"},
		{"+24495", "africell"},
		{"+35191", "vodafone-pt"}, {"+35192", "nos"}, {"+35193", "nos"}, {"+35196", "meo"},
	}, "global")
	if err != nil {
		panic(err)
	}
	return t
}

package routing

import (
	"slices"
	"strings"
	"testing"
)

func TestLongestPrefixWins(t *testing.T) {
	tb, err := NewTable([]Route{
		{"+244", "ao-aggregator"},
		{"+24492", "unitel"},
		{"+244923", "unitel-premium"},
		{"+351", "pt"},
	}, "global")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"+244923456789": "unitel-premium", // three candidates: the longest wins
		"+244924456789": "unitel",
		"+244991234567": "ao-aggregator",
		"+351912345678": "pt",
		"+14155550123":  "global",
		"+2449":         "ao-aggregator",
	}
	for n, want := range tests {
		if got := tb.Provider(n); got != want {
			t.Errorf("Provider(%s) = %s, want %s", n, got, want)
		}
	}
	if got, want := tb.Providers(), []string{"ao-aggregator", "global", "pt", "unitel", "unitel-premium"}; !slices.Equal(got, want) {
		t.Errorf("Providers() = %v, want %v", got, want)
	}
	if !tb.Has("global") || !tb.Has("pt") || tb.Has("nos") {
		t.Error("Has disagrees with the routes")
	}
}

func TestNewTableRejects(t *testing.T) {
	bad := []struct {
		name     string
		routes   []Route
		fallback string
		want     string
	}{
		{"no fallback", nil, "", "fallback"},
		{"prefix without plus", []Route{{"244", "x"}}, "g", `"244"`},
		{"prefix with letters", []Route{{"+24a", "x"}}, "g", `"+24a"`},
		{"empty provider", []Route{{"+244", ""}}, "g", "provider"},
		{"provider unfit for a topic name", []Route{{"+244", "Uni tel"}}, "g", `"Uni tel"`},
		{"duplicate prefix", []Route{{"+244", "a"}, {"+244", "b"}}, "g", "twice"},
	}
	for _, b := range bad {
		_, err := NewTable(b.routes, b.fallback)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v, want one mentioning %s", b.name, err, b.want)
		}
	}
}

package main

import (
	"encoding/json"
	"testing"
	"time"

	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/domain/phone"
)

// The load the benchmark posts is what it claims: every recipient a valid,
// distinct Angolan mobile number, across the bodies of a series and
// between series, so the end-to-end run expects exactly one message each.
func TestBenchRecipientsAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for series := range 3 {
		g := newRecipientGen(series)
		for i := range 5 {
			var body struct {
				Recipients []string `json:"recipients"`
			}
			if err := json.Unmarshal(g.body("0190a5b2-0000-7000-8000-000000000001", "b"), &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Recipients) != benchRecipients {
				t.Fatalf("series %d body %d: %d recipients", series, i, len(body.Recipients))
			}
			for _, r := range body.Recipients {
				n, reason := phone.Normalize(r, "AO")
				if reason != "" || n.Country != "AO" {
					t.Fatalf("%q: %s (country %q)", r, reason, n.Country)
				}
				if seen[n.E164] {
					t.Fatalf("%q (%s) appears twice", r, n.E164)
				}
				seen[n.E164] = true
			}
		}
	}
}

func TestLatencyPercentiles(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{0: time.Millisecond, 50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := l.pct(p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	if (latencies{}).pct(50) != 0 {
		t.Error("empty percentile should be 0")
	}
}

// Both benchmarks answer -h with their usage and exit code 0, and a flag
// either does not know is a usage error (exit code 2).
func TestHelpAndUsageErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"the load benchmark answers help", []string{"-h"}, cli.ExitOK},
		{"the Kannel comparison answers help", []string{"kannel", "--help"}, cli.ExitOK},
		{"an unknown flag is a usage error", []string{"-nope"}, cli.ExitUsage},
		{"an unknown flag of kannel is a usage error", []string{"kannel", "-nope"}, cli.ExitUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cli.ExitCode(run(c.args)); got != c.code {
				t.Errorf("ziett-bench %v: exit code %d, want %d", c.args, got, c.code)
			}
		})
	}
}

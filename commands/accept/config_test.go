package accept

import (
	"strings"
	"testing"
	"time"
)

// New refuses a config that cannot keep the service's promises, naming
// what is wrong, and gives a valid one's zero fields their defaults.
func TestNewValidatesAndDefaults(t *testing.T) {
	valid := func() Config { return Config{Senders: okSenders{}, Log: &memLog{}} }
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no senders are refused", func(c *Config) { c.Senders = nil }, "no senders"},
		{"no log is refused", func(c *Config) { c.Log = nil }, "no log"},
		{"a negative timing is refused", func(c *Config) { c.Timings.CatchUp = -time.Second }, "negative timings"},
		{"a lease no longer than an append is refused", func(c *Config) {
			c.Timings.Lease, c.Timings.AppendTimeout = time.Second, time.Second
		}, "must exceed the append timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	s, err := New(valid())
	if err != nil {
		t.Fatal(err)
	}
	want := Timings{Lease: DefaultLease, AppendTimeout: DefaultAppendTimeout, WaitInProgress: DefaultWaitInProgress,
		CatchUp: DefaultCatchUp, TTL: DefaultTTL}
	if s.Timings != want || s.Now == nil || s.Logger == nil {
		t.Fatalf("defaults not applied: %+v", s.Config)
	}
}

package webhooks_test

import (
	"strings"
	"testing"
	"time"

	"ziett.co/campaigns/adapters/webhooks"
)

// NewSender refuses tuning it cannot run with, naming what is wrong.
func TestNewSenderValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  webhooks.SenderConfig
		want string
	}{
		{"no database is refused", webhooks.SenderConfig{}, "no database URL"},
		{"negative workers are refused", webhooks.SenderConfig{DatabaseURL: "postgres://x", Config: webhooks.Config{Workers: -1}}, "negative workers"},
		{"a negative wait in the schedule is refused", webhooks.SenderConfig{DatabaseURL: "postgres://x",
			Config: webhooks.Config{Schedule: []time.Duration{time.Second, -time.Second}}}, "negative wait"},
		{"a negative rate is refused", webhooks.SenderConfig{DatabaseURL: "postgres://x", Config: webhooks.Config{RatePerSecond: -1}}, "negative rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := webhooks.NewSender(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewSender = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := webhooks.NewSender(webhooks.SenderConfig{DatabaseURL: "postgres://x"}); err != nil {
		t.Fatalf("a valid config is refused: %v", err)
	}
}

package service_test

import (
	"strings"
	"testing"

	"ziett.co/campaigns/cmd/service"
)

// Start refuses a config it cannot run before it connects to anything,
// naming what is wrong.
func TestStartRefusesAnInvalidConfig(t *testing.T) {
	valid := func() service.Config {
		return service.Config{Brokers: []string{"127.0.0.1:1"}, DatabaseURL: "postgres://127.0.0.1:1/none"}
	}
	for _, tc := range []struct {
		name   string
		change func(*service.Config)
		want   string
	}{
		{"no brokers are refused", func(c *service.Config) { c.Brokers = nil }, "no Kafka brokers"},
		{"no database is refused", func(c *service.Config) { c.DatabaseURL = "" }, "no database URL"},
		{"an unknown component is refused", func(c *service.Config) { c.Components = []string{service.API, "mailer"} }, `unknown component "mailer"`},
		{"a negative partition count is refused", func(c *service.Config) { c.Partitions = -1 }, "negative partition count"},
		{"negative projector members are refused", func(c *service.Config) { c.ProjectorMembers = -1 }, "negative projector members"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			if st, err := service.Start(t.Context(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
				if st != nil {
					st.Close()
				}
				t.Fatalf("Start = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

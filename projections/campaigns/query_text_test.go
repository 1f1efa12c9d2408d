package campaigns_test

import (
	"testing"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/projections/campaigns"
)

// A name search for text PostgreSQL cannot take matches nothing instead
// of failing, whoever asks (the dashboard's search box passes what it
// gets).
func TestListSearchForUnstorableTextMatchesNothing(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	rd := campaigns.Reader{DB: e.Stack.DB}
	for _, c := range []struct{ name, q string }{
		{"NUL", "a\x00b"},
		{"invalid UTF-8", "caf\xe9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			vs, more, err := rd.List(t.Context(), e.Demo.OrgID, campaigns.ListQuery{Name: c.q, Limit: 10})
			if err != nil || len(vs) != 0 || more {
				t.Fatalf("List(%q) = %d rows, more %v, err %v; want none", c.q, len(vs), more, err)
			}
		})
	}
}

package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/schemas"
)

// Every event the service writes matches the JSON Schema published for its
// type and version, so the schemas are a contract consumers can rely on.
func TestEventsMatchTheirSchemas(t *testing.T) {
	e := servicetest.Start(t, func(c *service.Config) {
		// Half the messages fail permanently so MessageFailed and
		// FundsRefunded appear too.
		c.Provider.PermanentFailure = 0.5
	})
	ok := e.SeedRequest()
	// 30 valid numbers: the chance that none (or all) fail is about 1e-9.
	recips := []string{"+351912345678", "+14155550123", "+244990000001", "1234567"}
	for i := range 27 {
		recips = append(recips, fmt.Sprintf("+2449%d00000%02d", 1+i%5, i))
	}
	ok["recipients"] = recips
	ok["content"] = "Olá! Promoção 🎉"
	failed := e.SeedRequest()
	failed["recipients"] = []string{"1234567", "7654321"}
	for _, req := range []map[string]any{ok, failed} {
		id := e.Submit(req)
		e.WaitStatus(id, 30*time.Second, "COMPLETED", "FAILED")
	}

	seen := map[events.Type]int{}
	valid := schemaChecker(t)
	check := func(ev events.Envelope) bool {
		if valid(ev) {
			seen[ev.Type]++
		}
		return false
	}
	e.Events(kafkalog.OrgEvents, check)
	e.Events(kafkalog.MessageEvents, check)
	for _, want := range []events.Type{events.CampaignAccepted, events.CampaignProcessed, events.FundsDebited,
		events.MessagesEnqueued, events.CampaignCompleted, events.CampaignFailed, events.FundsCredited,
		events.FundsRefunded, events.MessageSent, events.MessageFailed} {
		if seen[want] == 0 {
			t.Errorf("the workload produced no %s event to check", want)
		}
	}
}

// schemaChecker validates events against their published schema, reporting
// mismatches as test errors; it answers whether the event had a schema.
func schemaChecker(t *testing.T) func(events.Envelope) bool {
	c := jsonschema.NewCompiler()
	compiled := map[string]*jsonschema.Schema{}
	return func(ev events.Envelope) bool {
		t.Helper()
		name := fmt.Sprintf("%s.v%d.json", ev.Type, ev.Version)
		sch := compiled[name]
		if sch == nil {
			raw, err := schemas.Events.ReadFile("events/" + name)
			if err != nil {
				t.Errorf("event %s (%s) has no schema events/%s", ev.ID, ev.Type, name)
				return false
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("schema %s: %v", name, err)
			}
			if err := c.AddResource(name, doc); err != nil {
				t.Fatal(err)
			}
			if sch, err = c.Compile(name); err != nil {
				t.Fatalf("compile %s: %v", name, err)
			}
			compiled[name] = sch
		}
		var v any
		if err := json.Unmarshal(ev.Data, &v); err != nil {
			t.Errorf("event %s payload is not JSON: %v", ev.Type, err)
			return false
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("event %s %s does not match its schema: %v\npayload: %s", ev.Type, ev.ID, err, ev.Data)
		}
		return true
	}
}

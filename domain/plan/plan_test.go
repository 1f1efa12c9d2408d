package plan

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/pricing"
)

func TestMakePlan(t *testing.T) {
	r := DefaultRules()
	r.Prices.ByProvider["global"] = pricingRates(7000)
	cid := uuid.New()
	c := events.CampaignAcceptedV1{
		CountryAlpha2: "AO",
		Content:       strings.Repeat("Olá ", 20), // 80 UTF-16 units: two UCS-2 segments
		Recipients: []string{
			"+244 923 456 789", // unitel
			"923456789",        // the same number, national format
			"991234567",        // movicel, national format
			"+351 912 345 678", // Portugal, priced as such
			"+1 415 555 0123",  // elsewhere: the aggregator, its own price
			"not a number",
			"+244 123 456 789", // unassigned range
			"+1 800 555 0199",  // freephone
		},
	}
	p := Make(cid, c, r)
	pr := p.Processed
	if pr.Encoding != "UCS2" || pr.SegmentsPerMessage != 2 || strings.Join(pr.UCS2Chars, "") != "á" {
		t.Fatalf("segmentation = %s/%d %q, want UCS2/2 [á]", pr.Encoding, pr.SegmentsPerMessage, pr.UCS2Chars)
	}
	if pr.Recipients != (events.RecipientCounts{Submitted: 8, Valid: 4, Invalid: 3, Duplicates: 1}) {
		t.Fatalf("counts = %+v", pr.Recipients)
	}
	want := []struct {
		provider string
		country  string
		unit     int64
		reason   string
	}{
		{"unitel", "AO", 500, ""},
		{"", "AO", 0, phone.ReasonDuplicate},
		{"movicel", "AO", 500, ""},
		{"vodafone-pt", "PT", 2500, ""},
		{"global", "US", 7000, ""},
		{"", "", 0, phone.ReasonUnparseable},
		{"", "", 0, phone.ReasonInvalid},
		{"", "", 0, phone.ReasonNotSMSCapable},
	}
	var total int64
	for i, w := range want {
		it := pr.Items[i]
		if it.Index != i || it.Provider != w.provider || it.Country != w.country || it.UnitPrice != w.unit || it.Reason != w.reason {
			t.Errorf("item %d = %+v, want %+v", i, it, w)
		}
		if w.reason == "" {
			if it.Cost != 2*w.unit || it.MessageID != events.MessageID(cid, i) {
				t.Errorf("item %d: cost %d, id %s; want %d and the derived message id", i, it.Cost, it.MessageID, 2*w.unit)
			}
			total += it.Cost
		} else if it.Cost != 0 || it.MessageID != uuid.Nil {
			t.Errorf("item %d without a message is billed or has an id: %+v", i, it)
		}
	}
	if pr.Cost != total || pr.TotalSegments != 8 || len(p.Messages) != 4 {
		t.Fatalf("cost %d (want %d), segments %d, messages %d", pr.Cost, total, pr.TotalSegments, len(p.Messages))
	}
	if pr.ByProvider["unitel"] != 1 || pr.ByProvider["movicel"] != 1 || pr.ByProvider["vodafone-pt"] != 1 || pr.ByProvider["global"] != 1 {
		t.Fatalf("by provider = %v", pr.ByProvider)
	}
}

func TestParseRules(t *testing.T) {
	r := DefaultRules()
	if r.Routes.Provider("+244923456789") != "unitel" || r.Prices.UnitPrice("AO") != 500 || r.Throughput["unitel"] <= 0 {
		t.Fatalf("shipped rules not as documented: %+v", r)
	}
	bad := []struct{ name, edit, want string }{
		{"unknown key", `"currency": "AOA",`, `"currency": "AOA", "curency": "AOA",`},
		{"other currency", `"currency": "AOA"`, `"currency": "EUR"`},
		{"bad prefix", `"+24491"`, `"24491"`},
		{"price for unrouted provider", `"providers": {}`, `"providers": {"nobody": {"default": 1}}`},
		{"free destination", `"AO": 500`, `"AO": 0`},
		{"negative throughput", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": -1}`},
		{"unknown key in a provider", `"unitel": {"max_per_second": 500}`, `"unitel": {"max_per_second": 500, "smtp": {}}`},
	}
	for _, b := range bad {
		src := string(DefaultRulesJSON())
		if !strings.Contains(src, b.edit) {
			t.Fatalf("%s: shipped rules no longer contain %s", b.name, b.edit)
		}
		if _, err := ParseRules([]byte(strings.Replace(src, b.edit, b.want, 1))); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

func pricingRates(def int64) pricing.Rates { return pricing.Rates{Default: def} }

// The shipped routing table sends Angolan and Portuguese mobile ranges to
// their operators and everything else through the aggregator.
func TestShippedRoutes(t *testing.T) {
	routes := DefaultRules().Routes
	for n, want := range map[string]string{
		"+244923456789": "unitel", "+244991234567": "movicel", "+244951234567": "africell",
		"+351912345678": "vodafone-pt", "+351961234567": "meo", "+33612345678": "global",
	} {
		if got := routes.Provider(n); got != want {
			t.Errorf("Provider(%s) = %s, want %s", n, got, want)
		}
	}
}

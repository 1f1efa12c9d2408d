// Package plan decides what a campaign costs and where its messages go:
// the rules (routing, pricing, provider throughput) and the plan computed
// with them. It is pure: the API's estimate, the processor's debit and the
// dispatchers' limits all read the same rules.
package plan

import (
	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/optout"
	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/sms"
)

// Plan is what processing decides for a campaign, before the balance check.
type Plan struct {
	Processed events.CampaignProcessedV1
	Messages  []events.Recipient // the valid, unique recipients
}

// Make normalizes, deduplicates, segments, routes and prices a campaign.
// It is a pure function of the campaign and the rules, so the API's estimate
// and the processor's debit agree whenever the rules are the same.
func Make(campaignID uuid.UUID, c events.CampaignAcceptedV1, r Rules) Plan {
	return MakeExcept(campaignID, c, r, nil)
}

// MakeExcept is Make that gives no message to the numbers for which
// suppressed is true (nil: none): they are counted, not billed.
func MakeExcept(campaignID uuid.UUID, c events.CampaignAcceptedV1, r Rules, suppressed func(e164 string) bool) Plan {
	seg := sms.Analyze(c.Content)
	p := events.CampaignProcessedV1{
		Recipients:         events.RecipientCounts{Submitted: len(c.Recipients)},
		Encoding:           string(seg.Encoding),
		SegmentsPerMessage: seg.Segments,
		UCS2Chars:          seg.UCS2Chars,
		Currency:           pricing.Currency,
		ByProvider:         map[string]int{},
		Items:              make([]events.Recipient, 0, len(c.Recipients)),
	}
	seen := make(map[string]int, len(c.Recipients))
	var msgs []events.Recipient
	for i, raw := range c.Recipients {
		item := events.Recipient{Index: i, Input: raw}
		n, reason := phone.Normalize(raw, c.CountryAlpha2)
		switch {
		case reason != "":
			item.Reason = reason
			p.Recipients.Invalid++
		case seen[n.E164] > 0:
			item.E164, item.Country, item.Reason = n.E164, n.Country, phone.ReasonDuplicate
			p.Recipients.Duplicates++
		case suppressed != nil && suppressed(n.E164):
			seen[n.E164] = i + 1
			item.E164, item.Country, item.Reason = n.E164, n.Country, optout.ReasonSuppressed
			p.Recipients.Suppressed++
		default:
			seen[n.E164] = i + 1
			item.E164, item.Country = n.E164, n.Country
			item.Provider = r.Routes.Provider(n.E164)
			item.UnitPrice = r.Prices.UnitPriceVia(item.Provider, n.Country)
			item.Cost = item.UnitPrice * int64(seg.Segments)
			item.MessageID = events.MessageID(campaignID, i)
			if c.IsMessage() {
				// A single message's id is the one the API returned: its
				// campaign id, a UUIDv7 minted at acceptance.
				item.MessageID = campaignID
			}
			p.Recipients.Valid++
			p.ByProvider[item.Provider]++
			p.TotalSegments += seg.Segments
			p.Cost += item.Cost
			msgs = append(msgs, item)
		}
		p.Items = append(p.Items, item)
	}
	return Plan{Processed: p, Messages: msgs}
}

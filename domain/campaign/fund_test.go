package campaign

import (
	"testing"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/problem"
)

func TestFund(t *testing.T) {
	const (
		allSuppressed = "Every valid recipient is on the organisation's suppression list."
		noneValid     = "None of the submitted recipients is a valid phone number."
		poorCampaign  = "The account balance was too low to pay for this campaign when it was processed."
		poorMessage   = "The account balance was too low to pay for this message when it was processed."
	)
	funds := string(problem.CodeInsufficientFunds)
	counts := func(valid, invalid, suppressed int) events.RecipientCounts {
		return events.RecipientCounts{Submitted: valid + invalid + suppressed, Valid: valid, Invalid: invalid, Suppressed: suppressed}
	}
	for _, tc := range []struct {
		name       string
		recipients events.RecipientCounts
		cost       int64
		balance    int64
		isMessage  bool
		want       events.CampaignFailedV1 // zero: funded
	}{
		{"a campaign within the balance is funded", counts(3, 1, 0), 1500, 2000, false, events.CampaignFailedV1{}},
		{"a campaign costing exactly the balance is funded", counts(4, 0, 0), 2000, 2000, false, events.CampaignFailedV1{}},
		{"suppressed numbers beside valid ones do not stop a campaign", counts(1, 0, 2), 500, 500, false, events.CampaignFailedV1{}},
		{"a single message within the balance is funded", counts(1, 0, 0), 500, 700, true, events.CampaignFailedV1{}},
		{"every valid recipient suppressed fails the campaign", counts(0, 1, 2), 0, 10_000, false,
			events.CampaignFailedV1{Code: CodeAllSuppressed, Message: allSuppressed}},
		{"no valid recipient fails the campaign", counts(0, 3, 0), 0, 10_000, false,
			events.CampaignFailedV1{Code: CodeNoValidRecipients, Message: noneValid}},
		{"a campaign of no recipients fails as having none valid", counts(0, 0, 0), 0, 10_000, false,
			events.CampaignFailedV1{Code: CodeNoValidRecipients, Message: noneValid}},
		{"having no one to send to is told before a balance too low", counts(0, 2, 0), 0, -100, false,
			events.CampaignFailedV1{Code: CodeNoValidRecipients, Message: noneValid}},
		{"a campaign costing more than the balance fails for funds", counts(3, 0, 0), 1500, 1499, false,
			events.CampaignFailedV1{Code: funds, Message: poorCampaign}},
		{"a single message costing more than the balance fails, worded for a message", counts(1, 0, 0), 500, 200, true,
			events.CampaignFailedV1{Code: funds, Message: poorMessage}},
		{"a negative balance pays for nothing", counts(1, 0, 0), 1, -1, false,
			events.CampaignFailedV1{Code: funds, Message: poorCampaign}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := events.CampaignProcessedV1{Recipients: tc.recipients, Cost: tc.cost, Currency: "AOA"}
			got, ok := Fund(p, tc.balance, tc.isMessage)
			if wantOK := tc.want == (events.CampaignFailedV1{}); ok != wantOK || got != tc.want {
				t.Fatalf("Fund = %+v, %v; want %+v, %v", got, ok, tc.want, wantOK)
			}
		})
	}
}

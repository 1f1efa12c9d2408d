package campaign

import (
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/problem"
)

// Codes a campaign fails with when it is processed (CampaignFailed's code).
// Running out of funds fails it with the code the API refuses a request
// with for the same reason, problem.CodeInsufficientFunds.
const (
	CodeNoValidRecipients = "NO_VALID_RECIPIENTS"
	CodeAllSuppressed     = "ALL_RECIPIENTS_SUPPRESSED"
)

// Fund is the fund-or-fail decision for a processed campaign, given the
// organisation's balance: a campaign with no valid recipient left (every
// valid one suppressed, or none valid at all) fails, and so does one that
// costs more than the balance; otherwise it is funded (ok), and its cost,
// processed.Cost, is what to debit. isMessage words the failure for a
// single message (Send Message) rather than a campaign.
func Fund(processed events.CampaignProcessedV1, balance int64, isMessage bool) (failed events.CampaignFailedV1, ok bool) {
	switch n := processed.Recipients; {
	case n.Valid == 0 && n.Suppressed > 0:
		return events.CampaignFailedV1{Code: CodeAllSuppressed,
			Message: "Every valid recipient is on the organisation's suppression list."}, false
	case n.Valid == 0:
		return events.CampaignFailedV1{Code: CodeNoValidRecipients,
			Message: "None of the submitted recipients is a valid phone number."}, false
	case processed.Cost > balance:
		what := "campaign"
		if isMessage {
			what = "message"
		}
		return events.CampaignFailedV1{Code: string(problem.CodeInsufficientFunds),
			Message: "The account balance was too low to pay for this " + what + " when it was processed."}, false
	}
	return events.CampaignFailedV1{}, true
}

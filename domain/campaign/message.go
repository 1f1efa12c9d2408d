package campaign

import (
	"strings"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/text"
)

// Limits of POST /c/v1/messages (Send Message).
const (
	maxReferenceLength = 100

	FieldRecipient = "recipient"
	FieldReference = "reference"
)

// MessageRequest is a single message (Send Message) that passed every rule,
// its number included: unlike a campaign's list, one number that cannot
// receive the message refuses the request, so the client learns it at once.
type MessageRequest struct {
	RemitterID    uuid.UUID
	ChannelType   string
	Recipient     string // as submitted
	CountryAlpha2 string // empty when the recipient is in E.164
	Content       string
	Reference     string // the client's own id, empty when absent
	// Number is the recipient normalized.
	Number phone.Number
}

// MessageInput is a Send Message request as sent, each member decoded by
// a front end but not yet checked.
type MessageInput struct {
	RemitterID, Content, ChannelType, Recipient Value
	CountryAlpha2, Reference                    Value // optional
}

// Check validates a Send Message request, reporting every failing field
// at once, as BatchInput.Check does. The number is normalized here (one
// number costs microseconds), and a number that is not valid or cannot
// receive SMS is a field error of "recipient".
func (in MessageInput) Check() (MessageRequest, FieldErrors) {
	errs := FieldErrors{}
	var r MessageRequest
	r.RemitterID, r.Content, r.ChannelType = checkSending(in.RemitterID, in.Content, in.ChannelType, errs)
	recipientOK := false
	if s, ok := required(FieldRecipient, in.Recipient, msgInvalidString, errs); ok {
		if matchRecipient(s) {
			r.Recipient, recipientOK = s, true
		} else {
			errs[FieldRecipient] = msgRecipientMatch
		}
	}
	countryOK := true
	if v := in.CountryAlpha2; v.State != Missing && v.State != Null {
		switch {
		case v.State == Unreadable:
			errs[FieldCountryAlpha2], countryOK = v.Problem, false
		case v.State != Given:
			errs[FieldCountryAlpha2], countryOK = msgInvalidString, false
		case !matchCountry(v.Text):
			errs[FieldCountryAlpha2], countryOK = msgCountryMatch, false
		case countryProblem(v.Text) != "":
			errs[FieldCountryAlpha2], countryOK = countryProblem(v.Text), false
		default:
			r.CountryAlpha2 = v.Text
		}
	}
	if v := in.Reference; v.State != Missing && v.State != Null {
		switch {
		case v.State == Unreadable:
			errs[FieldReference] = v.Problem
		case v.State != Given:
			errs[FieldReference] = msgInvalidString
		case !checkText(FieldReference, v.Text, text.Line, errs):
		case !checkLength(FieldReference, v.Text, 1, maxReferenceLength, errs):
		default:
			r.Reference = v.Text
		}
	}
	if recipientOK && countryOK {
		local := !strings.HasPrefix(strings.TrimSpace(r.Recipient), "+")
		switch {
		case local && r.CountryAlpha2 == "":
			errs[FieldCountryAlpha2] = "Value error, country_alpha2 is required when the recipient is not in international (E.164) form."
		default:
			n, reason := phone.Normalize(r.Recipient, r.CountryAlpha2)
			if reason != "" {
				errs[FieldRecipient] = "Value error, " + NumberReasonText(reason) + " (" + reason + ")"
			} else {
				r.Number = n
			}
		}
	}
	if len(errs) > 0 {
		return MessageRequest{}, errs
	}
	return r, nil
}

// NumberReasonText explains a normalization reason code (domain/phone) to
// the customer.
func NumberReasonText(code string) string {
	switch code {
	case phone.ReasonUnparseable:
		return "the value could not be read as a phone number"
	case phone.ReasonInvalid:
		return "the number is not in service in any numbering plan"
	case phone.ReasonInvalidCountryCode:
		return "the number's country calling code does not exist"
	case phone.ReasonTooShort:
		return "the number is too short for its country"
	case phone.ReasonTooLong:
		return "the number is too long for its country"
	case phone.ReasonNotSMSCapable:
		return "the number cannot receive SMS (freephone, premium rate, shared cost or voicemail)"
	}
	return "the number was not accepted"
}

package campaign

import (
	"encoding/json"
	"strings"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/text"
)

// Limits of POST /c/v1/messages (Send Message).
const (
	maxReferenceLength = 100

	fieldRecipient = "recipient"
	fieldReference = "reference"
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

// ParseMessage decodes and validates a Send Message body, reporting every
// failing field at once, in the style of ParseRequest. The number is
// normalized here (one number costs microseconds), and a number that is
// not valid or cannot receive SMS is a field error of "recipient".
func ParseMessage(body []byte) (MessageRequest, FieldErrors) {
	fields, bodyErr := decodeObject(body)
	if bodyErr != "" {
		return MessageRequest{}, FieldErrors{fieldBody: bodyErr}
	}
	errs := FieldErrors{}
	var r MessageRequest
	r.RemitterID, r.Content, r.ChannelType = parseSending(fields, errs)
	recipientOK := false
	if s, ok := stringField(fields, fieldRecipient, msgInvalidString, errs); ok {
		if matchRecipient(s) {
			r.Recipient, recipientOK = s, true
		} else {
			errs[fieldRecipient] = msgRecipientMatch
		}
	}
	countryOK := true
	if raw, present := fields[fieldCountryAlpha2]; present && !isNull(raw) {
		s, problem, ok := decodeString(raw)
		switch {
		case !ok:
			errs[fieldCountryAlpha2], countryOK = msgInvalidString, false
		case problem != "":
			errs[fieldCountryAlpha2], countryOK = problem, false
		case !matchCountry(s):
			errs[fieldCountryAlpha2], countryOK = msgCountryMatch, false
		case countryProblem(s) != "":
			errs[fieldCountryAlpha2], countryOK = countryProblem(s), false
		default:
			r.CountryAlpha2 = s
		}
	}
	if raw, present := fields[fieldReference]; present && !isNull(raw) {
		s, problem, ok := decodeString(raw)
		switch {
		case !ok:
			errs[fieldReference] = msgInvalidString
		case problem != "":
			errs[fieldReference] = problem
		case !checkText(fieldReference, s, text.Line, errs):
		case !checkLength(fieldReference, s, 1, maxReferenceLength, errs):
		default:
			r.Reference = s
		}
	}
	if recipientOK && countryOK {
		local := !strings.HasPrefix(strings.TrimSpace(r.Recipient), "+")
		switch {
		case local && r.CountryAlpha2 == "":
			errs[fieldCountryAlpha2] = "Value error, country_alpha2 is required when the recipient is not in international (E.164) form."
		default:
			n, reason := phone.Normalize(r.Recipient, r.CountryAlpha2)
			if reason != "" {
				errs[fieldRecipient] = "Value error, " + NumberReasonText(reason) + " (" + reason + ")"
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

func isNull(raw json.RawMessage) bool {
	return strings.TrimSpace(string(raw)) == "null"
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

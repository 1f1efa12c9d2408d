// Package phone turns the numbers customers submit into E.164, the form
// providers, routing and pricing all key on.
package phone

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Reason codes explain why a submitted number gets no message.
const (
	ReasonUnparseable = "INVALID_NUMBER_FORMAT"
	ReasonInvalid     = "INVALID_NUMBER"
	ReasonDuplicate   = "DUPLICATE"
)

// Number is a submitted number after normalization.
type Number struct {
	E164    string
	Country string // ISO 3166-1 alpha-2 region the number belongs to
}

// Normalize parses raw with region as the default for numbers written without
// an international prefix. It returns a reason code when the input is not a
// valid, dialable number.
func Normalize(raw, region string) (Number, string) {
	n, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil {
		return Number{}, ReasonUnparseable
	}
	if !phonenumbers.IsValidNumber(n) {
		return Number{}, ReasonInvalid
	}
	return Number{
		E164:    phonenumbers.Format(n, phonenumbers.E164),
		Country: phonenumbers.GetRegionCodeForNumber(n),
	}, ""
}

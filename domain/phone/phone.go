// Package phone turns the numbers customers submit into E.164, the form
// providers, routing and pricing all key on.
package phone

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Reason codes explain why a submitted number gets no message. They are
// shown to customers per recipient, so each names something they can fix.
const (
	// ReasonUnparseable: the input is not a phone number at all.
	ReasonUnparseable = "INVALID_NUMBER_FORMAT"
	// ReasonInvalid: the number parses but is not in any range that is in
	// service (unassigned prefix, wrong length for its range).
	ReasonInvalid            = "INVALID_NUMBER"
	ReasonInvalidCountryCode = "INVALID_COUNTRY_CODE"
	ReasonTooShort           = "NUMBER_TOO_SHORT"
	ReasonTooLong            = "NUMBER_TOO_LONG"
	// ReasonNotSMSCapable: a valid number of a kind that cannot receive SMS
	// (freephone, premium rate, shared cost, voicemail access); billing a
	// message to it would charge for something that cannot arrive.
	ReasonNotSMSCapable = "NUMBER_NOT_SMS_CAPABLE"
	ReasonDuplicate     = "DUPLICATE"
)

// Number is a submitted number after normalization.
type Number struct {
	E164 string
	// Country is the ISO 3166-1 alpha-2 region the number belongs to, or
	// empty for non-geographic numbers (e.g. satellite, +882/+883), which
	// are priced at the default rate.
	Country string
}

// maxInput bounds what is handed to the parser: no phone number, with any
// amount of formatting, is longer, and the parser's cost grows with input.
const maxInput = 64

// Normalize parses raw with region as the default for numbers written without
// an international prefix. It returns a reason code when the input is not a
// valid number that can receive SMS.
//
// Inputs written only with digits, '+' and common separators take a path
// that mirrors the library's parsing and validation step by step but skips
// the work such input cannot need (extension and letter handling, repeated
// regex evaluation); everything else goes through the library unchanged.
// Both must give the same answer for every input, which the tests check.
func Normalize(raw, region string) (Number, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxInput {
		return Number{}, ReasonUnparseable
	}
	region = strings.ToUpper(region)
	if n, reason, ok := normalizeFast(raw, region); ok {
		return n, reason
	}
	return normalizeFull(raw, region)
}

// normalizeFull is the reference behaviour: the library's own Parse,
// validation and formatting. The fast path is defined as agreeing with it.
func normalizeFull(raw, region string) (Number, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxInput {
		return Number{}, ReasonUnparseable
	}
	n, err := phonenumbers.Parse(raw, strings.ToUpper(region))
	if err != nil {
		return Number{}, parseReason(err)
	}
	if !phonenumbers.IsValidNumber(n) {
		switch phonenumbers.IsPossibleNumberWithReason(n) {
		case phonenumbers.TOO_SHORT:
			return Number{}, ReasonTooShort
		case phonenumbers.TOO_LONG:
			return Number{}, ReasonTooLong
		case phonenumbers.INVALID_COUNTRY_CODE:
			return Number{}, ReasonInvalidCountryCode
		}
		return Number{}, ReasonInvalid
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST,
		phonenumbers.VOICEMAIL, phonenumbers.UAN:
		return Number{}, ReasonNotSMSCapable
	}
	country := phonenumbers.GetRegionCodeForNumber(n)
	if len(country) != 2 || country == "ZZ" {
		country = "" // "001" marks non-geographic entities
	}
	return Number{E164: phonenumbers.Format(n, phonenumbers.E164), Country: country}, ""
}

func parseReason(err error) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return ReasonInvalidCountryCode
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return ReasonTooShort
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return ReasonTooLong
	}
	return ReasonUnparseable
}

// Package campaign holds the domain rules for bulk messaging campaigns.
package campaign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/text"
)

// Limits and accepted values of POST /c/v1/campaigns/batch, as published in
// the API reference. Changing one changes the public contract.
const (
	minRecipients    = 2
	MaxRecipients    = 1000
	minNameLength    = 1
	maxNameLength    = 200
	minContentLength = 1
	maxContentLength = 10000

	channelSMS = "SMS"

	// The patterns are quoted verbatim in error messages, so they are kept
	// as the reference spells them even though the matchers below are
	// hand-written.
	recipientPattern = `^\+?[\d\s\-\.]{7,30}$`
	countryPattern   = `^[A-Z]{2}$`

	// maxListedRecipientErrors keeps a 422 body small when a client sends a
	// list of a thousand malformed numbers: the first ones are enough to
	// find the bug on their side.
	maxListedRecipientErrors = 20
)

// Field names as they appear on the wire and as keys of FieldErrors.
const (
	fieldBody          = "body"
	fieldRemitterID    = "remitter_id"
	fieldContent       = "content"
	fieldChannelType   = "channel_type"
	fieldRecipients    = "recipients"
	fieldName          = "name"
	fieldCountryAlpha2 = "country_alpha2"
	FieldSendAt        = "send_at"
)

// Messages follow pydantic v2 wording because the 422 example of the API
// reference is in that style, and clients should see one style throughout.
const (
	msgRequired        = "Field required"
	msgInvalidString   = "Input should be a valid string"
	msgInvalidList     = "Input should be a valid list"
	msgInvalidUUID     = "Input should be a valid UUID"
	msgUUIDVersion     = "UUID version 7 expected"
	msgInvalidObject   = "Input should be a valid dictionary or object"
	msgInvalidJSON     = "Invalid JSON: "
	msgChannelSMS      = "Input should be '" + channelSMS + "'"
	msgRecipientMatch  = "String should match pattern '" + recipientPattern + "'."
	msgCountryMatch    = "String should match pattern '" + countryPattern + "'."
	msgInvalidDatetime = "Input should be a valid datetime in RFC 3339 format, e.g. 2026-12-01T09:00:00Z"
)

// Request is a batch campaign that passed every rule of the API reference.
// Recipients are kept exactly as sent: turning local numbers into E.164
// with CountryAlpha2 is the background workers' job, and per-number failures
// there must not reject the whole batch.
type Request struct {
	Name          string
	Content       string
	ChannelType   string
	CountryAlpha2 string
	RemitterID    uuid.UUID
	Recipients    []string
	// SendAt, when set, schedules the campaign (UTC). Whether it lies in
	// the allowed window depends on the clock: CheckSendAt.
	SendAt *time.Time
}

// FieldErrors maps a field path ("recipients", "recipients[3]",
// "country_alpha2", "body") to one message.
type FieldErrors map[string]string

// ParseRequest decodes a JSON body and validates every field, reporting all
// failures at once so that a client can fix a request in one round trip.
//
// On failure the returned Request is the zero value, so that a caller cannot
// act on a half-validated campaign by mistake. On success FieldErrors is nil.
//
// Unknown fields are ignored, as pydantic does by default, so that clients
// built against a newer version of the API keep working with this one.
// Duplicate keys are not an error; the last one wins, as in most decoders.
//
// The body size is not limited here: the HTTP layer must cap it before
// reading, since a list longer than MaxRecipients is still decoded in full.
func ParseRequest(body []byte) (Request, FieldErrors) {
	fields, bodyErr := decodeObject(body)
	if bodyErr != "" {
		return Request{}, FieldErrors{fieldBody: bodyErr}
	}

	errs := FieldErrors{}
	var r Request

	r.RemitterID, r.Content, r.ChannelType = parseSending(fields, errs)
	if raw, ok := fields[fieldRecipients]; ok {
		r.Recipients = parseRecipients(raw, errs)
	} else {
		errs[fieldRecipients] = msgRequired
	}
	if s, ok := stringField(fields, fieldName, msgInvalidString, errs); ok {
		if checkText(fieldName, s, text.Line, errs) && checkLength(fieldName, s, minNameLength, maxNameLength, errs) {
			r.Name = s
		}
	}
	if s, ok := stringField(fields, fieldCountryAlpha2, msgInvalidString, errs); ok {
		switch {
		case !matchCountry(s):
			errs[fieldCountryAlpha2] = msgCountryMatch
		case countryProblem(s) != "":
			// Echoing s is safe: it matched ^[A-Z]{2}$ above.
			errs[fieldCountryAlpha2] = countryProblem(s)
		default:
			r.CountryAlpha2 = s
		}
	}

	if raw, ok := fields[FieldSendAt]; ok && string(raw) != "null" {
		if s, ok := stringField(fields, FieldSendAt, msgInvalidDatetime, errs); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				errs[FieldSendAt] = msgInvalidDatetime
			} else {
				t = t.UTC()
				r.SendAt = &t
			}
		}
	}

	if len(errs) > 0 {
		return Request{}, errs
	}
	return r, nil
}

// decodeObject returns the top-level members of body, or the message for
// the "body" key when body is not a single JSON object.
func decodeObject(body []byte) (map[string]json.RawMessage, string) {
	var fields map[string]json.RawMessage
	// json.Unmarshal checks the syntax of the whole input before decoding,
	// so trailing data after the object is a syntax error rather than being
	// silently ignored as json.Decoder would do.
	err := json.Unmarshal(body, &fields)
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return nil, msgInvalidJSON + syntaxErr.Error() + " (offset " + strconv.FormatInt(syntaxErr.Offset, 10) + ")"
	case errors.As(err, &typeErr):
		return nil, msgInvalidObject
	case err != nil:
		return nil, msgInvalidJSON + err.Error()
	case fields == nil:
		// A top-level null decodes into a nil map without error.
		return nil, msgInvalidObject
	}
	return fields, ""
}

// stringField fetches a required string member, recording typeMsg when the
// member is null or of another JSON type, and the encoding problem when
// it is a string that cannot be read as text.
func stringField(fields map[string]json.RawMessage, key, typeMsg string, errs FieldErrors) (string, bool) {
	raw, ok := fields[key]
	if !ok {
		errs[key] = msgRequired
		return "", false
	}
	s, problem, ok := decodeString(raw)
	switch {
	case !ok:
		errs[key] = typeMsg
		return "", false
	case problem != "":
		errs[key] = problem
		return "", false
	}
	return s, true
}

// decodeString decodes a JSON string, refusing every other JSON type,
// including null, which encoding/json would otherwise turn into "" (ok
// false). A string that is not valid text (bytes that are not UTF-8, a
// lone surrogate escape) gets a problem instead of encoding/json's silent
// U+FFFD, which would change the text the customer sent, and its price.
func decodeString(raw json.RawMessage) (s, problem string, ok bool) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) < 2 || raw[0] != '"' {
		return "", "", false
	}
	// raw has already passed the syntax check of the whole body, so a string
	// without escapes and with valid UTF-8 is its own value. This spares a
	// full decoder per recipient on 1000-item lists; the rest go through
	// encoding/json once the raw token is known to decode faithfully.
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), "", true
	}
	if p := text.JSONStringProblem(raw); p != "" {
		return "", p, true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", "", false
	}
	return s, "", true
}

// checkText records why s cannot be stored or makes no sense in a field
// of kind k (control characters), if it cannot or does not.
func checkText(key, s string, k text.Kind, errs FieldErrors) bool {
	if p := text.Problem(s, k); p != "" {
		errs[key] = p
		return false
	}
	return true
}

func parseRemitterID(s string, errs FieldErrors) uuid.UUID {
	// uuid.Parse also takes the braced, URN and 32-digit forms, as pydantic
	// does; all of them name the same 128 bits.
	id, err := uuid.Parse(s)
	if err != nil {
		errs[fieldRemitterID] = msgInvalidUUID
		return uuid.UUID{}
	}
	// The version nibble means nothing outside the RFC 9562 variant, so a
	// UUID of another variant is not a v7 even if that nibble reads 7.
	if id.Variant() != uuid.RFC4122 || id.Version() != 7 {
		errs[fieldRemitterID] = msgUUIDVersion
		return uuid.UUID{}
	}
	return id
}

// checkLength counts Unicode code points, not bytes, because the published
// limits are in characters and an SMS in Portuguese is full of multi-byte
// letters.
func checkLength(key, s string, minLen, maxLen int, errs FieldErrors) bool {
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen:
		errs[key] = fmt.Sprintf("String should have at least %d %s", minLen, plural(minLen, "character"))
		return false
	case n > maxLen:
		errs[key] = fmt.Sprintf("String should have at most %d %s", maxLen, plural(maxLen, "character"))
		return false
	}
	return true
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// parseRecipients validates the list and its items. A list longer than
// MaxRecipients gets only the length error: its items are not scanned,
// because the client must split the batch anyway and per-item errors on an
// oversized list would only cost time and bloat the response. A list that is
// too short is still scanned, since that is at most one item.
func parseRecipients(raw json.RawMessage, errs FieldErrors) []string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		errs[fieldRecipients] = msgInvalidList
		return nil
	}
	switch {
	case len(items) > MaxRecipients:
		errs[fieldRecipients] = fmt.Sprintf("Ensure this value has at most %d items.", MaxRecipients)
		return nil
	case len(items) < minRecipients:
		errs[fieldRecipients] = fmt.Sprintf("Ensure this value has at least %d items.", minRecipients)
	}

	out := make([]string, 0, len(items))
	failed := 0
	for i, item := range items {
		s, problem, ok := decodeString(item)
		msg := ""
		switch {
		case !ok:
			msg = msgInvalidString
		case problem != "":
			msg = problem
		case !matchRecipient(s):
			msg = msgRecipientMatch
		}
		if msg == "" {
			out = append(out, s)
			continue
		}
		failed++
		if failed <= maxListedRecipientErrors {
			errs[fieldRecipients+"["+strconv.Itoa(i)+"]"] = msg
		}
	}
	if failed > maxListedRecipientErrors {
		// Cannot collide with the length message: a short list has at most
		// one item.
		errs[fieldRecipients] = fmt.Sprintf("%d items failed validation; the first %d are listed.", failed, maxListedRecipientErrors)
	}
	return out
}

// recipientChar is the class [\d\s\-\.] with RE2's ASCII-only meaning of
// \d ([0-9]) and \s ([\t\n\f\r ]; no \v).
var recipientChar = [256]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true,
	'5': true, '6': true, '7': true, '8': true, '9': true,
	'\t': true, '\n': true, '\f': true, '\r': true, ' ': true,
	'-': true, '.': true,
}

// matchRecipient is recipientPattern without the regexp engine, which would
// dominate the cost of a 1000-item list. '+' is not in the class, so the
// optional prefix never needs backtracking; and every byte of the class is
// ASCII, so counting bytes is counting characters for any string that can
// match.
func matchRecipient(s string) bool {
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	if len(s) < 7 || len(s) > 30 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !recipientChar[s[i]] {
			return false
		}
	}
	return true
}

// matchCountry is countryPattern without the regexp engine.
func matchCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// parseSending validates the fields every sending command has: remitter_id,
// content and channel_type.
func parseSending(fields map[string]json.RawMessage, errs FieldErrors) (remitter uuid.UUID, content, channel string) {
	if s, ok := stringField(fields, fieldRemitterID, msgInvalidUUID, errs); ok {
		remitter = parseRemitterID(s, errs)
	}
	if s, ok := stringField(fields, fieldContent, msgInvalidString, errs); ok {
		if checkText(fieldContent, s, text.Multiline, errs) && checkLength(fieldContent, s, minContentLength, maxContentLength, errs) {
			content = s
		}
	}
	if s, ok := stringField(fields, fieldChannelType, msgInvalidString, errs); ok {
		// Exact match like pydantic's strict enum: accepting "sms" here would
		// make a later, case-sensitive channel lookup the place that fails.
		if s == channelSMS {
			channel = s
		} else {
			errs[fieldChannelType] = msgChannelSMS
		}
	}
	return remitter, content, channel
}

// Package campaign holds the domain rules for bulk messaging campaigns.
package campaign

import (
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
	RecipientPattern = `^\+?[\d\s\-\.]{7,30}$`
	CountryPattern   = `^[A-Z]{2}$`

	// maxListedRecipientErrors keeps a 422 body small when a client sends a
	// list of a thousand malformed numbers: the first ones are enough to
	// find the bug on their side.
	maxListedRecipientErrors = 20
)

// Field names as they appear on the wire and as keys of FieldErrors.
const (
	FieldRemitterID    = "remitter_id"
	FieldContent       = "content"
	FieldChannelType   = "channel_type"
	FieldRecipients    = "recipients"
	FieldName          = "name"
	FieldCountryAlpha2 = "country_alpha2"
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
	msgChannelSMS      = "Input should be '" + channelSMS + "'"
	msgRecipientMatch  = "String should match pattern '" + RecipientPattern + "'."
	msgCountryMatch    = "String should match pattern '" + CountryPattern + "'."
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

// State says how a member of a request was sent.
type State uint8

const (
	// Missing: not sent at all.
	Missing State = iota
	// Null: sent as null.
	Null
	// NotText: sent as another type than the member's (a number for a
	// string, an object for a list).
	NotText
	// Unreadable: a string that is not valid text (see domain/text);
	// Value.Problem says why.
	Unreadable
	// Given: sent as the member's type.
	Given
)

// Value is one string member of a request as a front end decoded it,
// before the rules.
type Value struct {
	State   State
	Text    string // when Given
	Problem string // when Unreadable
}

// Text is a string member that was sent.
func Text(s string) Value { return Value{State: Given, Text: s} }

// List is a list of strings as a front end decoded it, before the rules.
// Its items are decoded on demand (Item), so that a list the rules refuse
// for its length costs nothing more.
type List struct {
	State State // Given when a list was sent; NotText (or Null) otherwise
	Len   int
	Item  func(i int) Value
}

// Texts is a list of strings that was sent.
func Texts(items []string) List {
	return List{State: Given, Len: len(items), Item: func(i int) Value { return Text(items[i]) }}
}

// BatchInput is a batch campaign as sent (POST /c/v1/campaigns/batch),
// each member decoded by a front end but not yet checked.
type BatchInput struct {
	Name, Content, ChannelType, CountryAlpha2, RemitterID Value
	Recipients                                            List
	SendAt                                                Value // optional
}

// Check applies every rule of the API reference to the batch, reporting
// all failures at once so that a client can fix a request in one round
// trip.
//
// On failure the returned Request is the zero value, so that a caller cannot
// act on a half-validated campaign by mistake. On success FieldErrors is nil.
func (in BatchInput) Check() (Request, FieldErrors) {
	errs := FieldErrors{}
	var r Request

	r.RemitterID, r.Content, r.ChannelType = checkSending(in.RemitterID, in.Content, in.ChannelType, errs)
	if in.Recipients.State == Missing {
		errs[FieldRecipients] = msgRequired
	} else {
		r.Recipients = checkRecipients(in.Recipients, errs)
	}
	if s, ok := required(FieldName, in.Name, msgInvalidString, errs); ok {
		if checkText(FieldName, s, text.Line, errs) && checkLength(FieldName, s, minNameLength, maxNameLength, errs) {
			r.Name = s
		}
	}
	if s, ok := required(FieldCountryAlpha2, in.CountryAlpha2, msgInvalidString, errs); ok {
		switch {
		case !matchCountry(s):
			errs[FieldCountryAlpha2] = msgCountryMatch
		case countryProblem(s) != "":
			// Echoing s is safe: it matched ^[A-Z]{2}$ above.
			errs[FieldCountryAlpha2] = countryProblem(s)
		default:
			r.CountryAlpha2 = s
		}
	}

	if in.SendAt.State != Missing && in.SendAt.State != Null {
		if s, ok := required(FieldSendAt, in.SendAt, msgInvalidDatetime, errs); ok {
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

// required reads a required string member, recording typeMsg when the
// member is null or of another type, and the encoding problem when it is
// a string that cannot be read as text.
func required(key string, v Value, typeMsg string, errs FieldErrors) (string, bool) {
	switch v.State {
	case Missing:
		errs[key] = msgRequired
	case Null, NotText:
		errs[key] = typeMsg
	case Unreadable:
		errs[key] = v.Problem
	case Given:
		return v.Text, true
	}
	return "", false
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
		errs[FieldRemitterID] = msgInvalidUUID
		return uuid.UUID{}
	}
	// The version nibble means nothing outside the RFC 9562 variant, so a
	// UUID of another variant is not a v7 even if that nibble reads 7.
	if id.Variant() != uuid.RFC4122 || id.Version() != 7 {
		errs[FieldRemitterID] = msgUUIDVersion
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

// checkRecipients validates the list and its items. A list longer than
// MaxRecipients gets only the length error: its items are not scanned,
// because the client must split the batch anyway and per-item errors on an
// oversized list would only cost time and bloat the response. A list that is
// too short is still scanned, since that is at most one item.
func checkRecipients(list List, errs FieldErrors) []string {
	if list.State != Given {
		errs[FieldRecipients] = msgInvalidList
		return nil
	}
	switch {
	case list.Len > MaxRecipients:
		errs[FieldRecipients] = fmt.Sprintf("Ensure this value has at most %d items.", MaxRecipients)
		return nil
	case list.Len < minRecipients:
		errs[FieldRecipients] = fmt.Sprintf("Ensure this value has at least %d items.", minRecipients)
	}

	out := make([]string, 0, list.Len)
	failed := 0
	for i := range list.Len {
		item := list.Item(i)
		msg := ""
		switch {
		case item.State == Unreadable:
			msg = item.Problem
		case item.State != Given:
			msg = msgInvalidString
		case !matchRecipient(item.Text):
			msg = msgRecipientMatch
		}
		if msg == "" {
			out = append(out, item.Text)
			continue
		}
		failed++
		if failed <= maxListedRecipientErrors {
			errs[FieldRecipients+"["+strconv.Itoa(i)+"]"] = msg
		}
	}
	if failed > maxListedRecipientErrors {
		// Cannot collide with the length message: a short list has at most
		// one item.
		errs[FieldRecipients] = fmt.Sprintf("%d items failed validation; the first %d are listed.", failed, maxListedRecipientErrors)
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

// matchRecipient is RecipientPattern without the regexp engine, which would
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

// matchCountry is CountryPattern without the regexp engine.
func matchCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// checkSending validates the fields every sending command has:
// remitter_id, content and channel_type.
func checkSending(remitterID, content, channelType Value, errs FieldErrors) (uuid.UUID, string, string) {
	var remitter uuid.UUID
	var body, channel string
	if s, ok := required(FieldRemitterID, remitterID, msgInvalidUUID, errs); ok {
		remitter = parseRemitterID(s, errs)
	}
	if s, ok := required(FieldContent, content, msgInvalidString, errs); ok {
		if checkText(FieldContent, s, text.Multiline, errs) && checkLength(FieldContent, s, minContentLength, maxContentLength, errs) {
			body = s
		}
	}
	if s, ok := required(FieldChannelType, channelType, msgInvalidString, errs); ok {
		// Exact match like pydantic's strict enum: accepting "sms" here would
		// make a later, case-sensitive channel lookup the place that fails.
		if s == channelSMS {
			channel = s
		} else {
			errs[FieldChannelType] = msgChannelSMS
		}
	}
	return remitter, body, channel
}

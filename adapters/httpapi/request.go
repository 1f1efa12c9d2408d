package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/text"
)

// Parsing of the sending commands' JSON bodies into the domain's typed
// input (campaign.BatchInput, campaign.MessageInput), whose Check applies
// the rules. Decoding is faithful: a member is reported as missing, null,
// of another type, or a string that cannot be read as text, never
// repaired.

// fieldBody is the field error's key when the body is not one JSON object.
const fieldBody = "body"

// Messages of a body that is not one JSON object, in the pydantic style of
// the field errors.
const (
	msgInvalidObject = "Input should be a valid dictionary or object"
	msgInvalidJSON   = "Invalid JSON: "
)

// ParseBatch decodes a batch body (POST /c/v1/campaigns/batch) and checks
// it (campaign.BatchInput.Check), reporting every failure at once; "body"
// is the only key when the body is not one JSON object.
//
// Unknown members are ignored, as pydantic does by default, so that
// clients built against a newer version of the API keep working with this
// one. Duplicate keys are not an error; the last one wins, as in most
// decoders.
//
// The body size is not limited here: the HTTP layer caps it before
// reading, since a list longer than campaign.MaxRecipients is still
// decoded in full.
func ParseBatch(body []byte) (campaign.Request, campaign.FieldErrors) {
	fields, bodyErr := decodeObject(body)
	if bodyErr != "" {
		return campaign.Request{}, campaign.FieldErrors{fieldBody: bodyErr}
	}
	return campaign.BatchInput{
		Name:          member(fields, campaign.FieldName),
		Content:       member(fields, campaign.FieldContent),
		ChannelType:   member(fields, campaign.FieldChannelType),
		CountryAlpha2: member(fields, campaign.FieldCountryAlpha2),
		RemitterID:    member(fields, campaign.FieldRemitterID),
		Recipients:    memberList(fields, campaign.FieldRecipients),
		SendAt:        member(fields, campaign.FieldSendAt),
	}.Check()
}

// parseMessage decodes a Send Message body (POST /c/v1/messages) and
// checks it (campaign.MessageInput.Check), as ParseBatch does a batch.
func parseMessage(body []byte) (campaign.MessageRequest, campaign.FieldErrors) {
	fields, bodyErr := decodeObject(body)
	if bodyErr != "" {
		return campaign.MessageRequest{}, campaign.FieldErrors{fieldBody: bodyErr}
	}
	return campaign.MessageInput{
		RemitterID:    member(fields, campaign.FieldRemitterID),
		Content:       member(fields, campaign.FieldContent),
		ChannelType:   member(fields, campaign.FieldChannelType),
		Recipient:     member(fields, campaign.FieldRecipient),
		CountryAlpha2: member(fields, campaign.FieldCountryAlpha2),
		Reference:     member(fields, campaign.FieldReference),
	}.Check()
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

// member decodes the string member key of fields.
func member(fields map[string]json.RawMessage, key string) campaign.Value {
	raw, ok := fields[key]
	if !ok {
		return campaign.Value{}
	}
	return decodeValue(raw)
}

// decodeValue decodes one JSON value that should be a string.
func decodeValue(raw json.RawMessage) campaign.Value {
	s, problem, ok := decodeString(raw)
	switch {
	case !ok && string(bytes.TrimSpace(raw)) == "null":
		return campaign.Value{State: campaign.Null}
	case !ok:
		return campaign.Value{State: campaign.NotText}
	case problem != "":
		return campaign.Value{State: campaign.Unreadable, Problem: problem}
	}
	return campaign.Text(s)
}

// memberList decodes the list-of-strings member key of fields; its items
// are decoded when the rules read them.
func memberList(fields map[string]json.RawMessage, key string) campaign.List {
	raw, ok := fields[key]
	if !ok {
		return campaign.List{}
	}
	raw = bytes.TrimLeft(raw, " \t\r\n")
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return campaign.List{State: campaign.NotText}
	}
	return campaign.List{State: campaign.Given, Len: len(items), Item: func(i int) campaign.Value { return decodeValue(items[i]) }}
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

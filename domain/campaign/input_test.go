package campaign

import (
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

const seedRemitter = "019b4b56-e704-7c30-83a0-527df63c3e00"

func seedInput() BatchInput {
	return BatchInput{
		Name: Text("Black Friday Promo - Luanda"), RemitterID: Text(seedRemitter), ChannelType: Text("SMS"),
		CountryAlpha2: Text("AO"), Content: Text("Flash Sale!"),
		Recipients: Texts([]string{"+244990000001", "+244990000002", "990000003"}),
	}
}

// The rules read typed values: how each member was sent decides its
// message, whatever the wire format was.
func TestBatchInputCheck(t *testing.T) {
	never := List{State: Given, Len: MaxRecipients + 1, Item: func(int) Value { panic("an oversized list was scanned") }}
	for _, tc := range []struct {
		name   string
		change func(*BatchInput)
		want   FieldErrors // nil: accepted
	}{
		{"the seed example is accepted", func(*BatchInput) {}, nil},
		{"a missing name is required", func(in *BatchInput) { in.Name = Value{} }, FieldErrors{"name": "Field required"}},
		{"a null name is not a string", func(in *BatchInput) { in.Name = Value{State: Null} }, FieldErrors{"name": "Input should be a valid string"}},
		{"a number for a name is not a string", func(in *BatchInput) { in.Name = Value{State: NotText} }, FieldErrors{"name": "Input should be a valid string"}},
		{"an unreadable name says why", func(in *BatchInput) { in.Name = Value{State: Unreadable, Problem: "bad bytes"} }, FieldErrors{"name": "bad bytes"}},
		{"a remitter of another type is not a UUID", func(in *BatchInput) { in.RemitterID = Value{State: NotText} }, FieldErrors{"remitter_id": "Input should be a valid UUID"}},
		{"a null send_at is no schedule", func(in *BatchInput) { in.SendAt = Value{State: Null} }, nil},
		{"a send_at of another type is not a datetime", func(in *BatchInput) { in.SendAt = Value{State: NotText} }, FieldErrors{"send_at": msgInvalidDatetime}},
		{"a send_at that is not RFC 3339 is not a datetime", func(in *BatchInput) { in.SendAt = Text("tomorrow") }, FieldErrors{"send_at": msgInvalidDatetime}},
		{"recipients that are not a list", func(in *BatchInput) { in.Recipients = List{State: NotText} }, FieldErrors{"recipients": "Input should be a valid list"}},
		{"an oversized list is refused without reading its items", func(in *BatchInput) { in.Recipients = never },
			FieldErrors{"recipients": "Ensure this value has at most 1000 items."}},
		{"an item of another type is not a string", func(in *BatchInput) {
			in.Recipients = List{State: Given, Len: 2, Item: func(i int) Value { return []Value{Text("+244990000001"), {State: NotText}}[i] }}
		}, FieldErrors{"recipients[1]": "Input should be a valid string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := seedInput()
			tc.change(&in)
			r, errs := in.Check()
			if !maps.Equal(errs, tc.want) || (errs == nil) != (tc.want == nil) {
				t.Fatalf("errors %q, want %q", errs, tc.want)
			}
			if errs != nil && !reflect.DeepEqual(r, Request{}) {
				t.Fatalf("request not zero on failure: %+v", r)
			}
		})
	}
	in := seedInput()
	in.SendAt = Text("2026-12-01T10:00:00+01:00")
	r, errs := in.Check()
	want := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if errs != nil || r.SendAt == nil || !r.SendAt.Equal(want) || r.SendAt.Location() != time.UTC ||
		r.RemitterID != uuid.MustParse(seedRemitter) || len(r.Recipients) != 3 {
		t.Fatalf("got %+v, %q", r, errs)
	}
}

func TestMessageInputCheck(t *testing.T) {
	base := func() MessageInput {
		return MessageInput{RemitterID: Text(seedRemitter), ChannelType: Text("SMS"), Content: Text("Your code is 1234"),
			Recipient: Text("+244923000001")}
	}
	for _, tc := range []struct {
		name   string
		change func(*MessageInput)
		want   FieldErrors
	}{
		{"an E.164 number needs no country", func(*MessageInput) {}, nil},
		{"null optional members are absent", func(in *MessageInput) {
			in.CountryAlpha2, in.Reference = Value{State: Null}, Value{State: Null}
		}, nil},
		{"a local number needs a country", func(in *MessageInput) { in.Recipient = Text("923000001") },
			FieldErrors{"country_alpha2": "Value error, country_alpha2 is required when the recipient is not in international (E.164) form."}},
		{"a local number with its country is read", func(in *MessageInput) {
			in.Recipient, in.CountryAlpha2 = Text("923000001"), Text("AO")
		}, nil},
		{"a reference of another type is not a string", func(in *MessageInput) { in.Reference = Value{State: NotText} },
			FieldErrors{"reference": "Input should be a valid string"}},
		{"an unreadable country says why", func(in *MessageInput) { in.CountryAlpha2 = Value{State: Unreadable, Problem: "bad bytes"} },
			FieldErrors{"country_alpha2": "bad bytes"}},
		{"a missing recipient is required", func(in *MessageInput) { in.Recipient = Value{} }, FieldErrors{"recipient": "Field required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.change(&in)
			r, errs := in.Check()
			if !maps.Equal(errs, tc.want) || (errs == nil) != (tc.want == nil) {
				t.Fatalf("errors %q, want %q", errs, tc.want)
			}
			if errs == nil && r.Number.E164 != "+244923000001" {
				t.Fatalf("number %+v", r.Number)
			}
		})
	}
}

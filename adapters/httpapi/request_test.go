package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/text"
)

const (
	seedRemitter = "019b4b56-e704-7c30-83a0-527df63c3e00"
	uuidV4       = "550e8400-e29b-41d4-a716-446655440000"
	// Version nibble 7 but the Microsoft variant (110x): not a UUIDv7.
	uuidV7WrongVariant = "019b4b56-e704-7c30-c3a0-527df63c3e00"
)

// seedBody is the example of the API reference, comment removed.
const seedBody = `{
	"name": "Black Friday Promo - Luanda",
	"remitter_id": "019b4b56-e704-7c30-83a0-527df63c3e00",
	"channel_type": "SMS",
	"country_alpha2": "AO",
	"content": "Flash Sale! Enjoy 50% off on all items this weekend only.",
	"recipients": [
		"+244990000001",
		"+244990000002",
		"990000003"
	]
}`

var (
	reRecipient = regexp.MustCompile(campaign.RecipientPattern)
	reCountry   = regexp.MustCompile(campaign.CountryPattern)
)

// validFields is a valid request as a map, so that a case can change one
// member, including to a raw JSON value of the wrong type.
func validFields() map[string]any {
	return map[string]any{
		"name":           "Black Friday Promo - Luanda",
		"remitter_id":    seedRemitter,
		"channel_type":   "SMS",
		"country_alpha2": "AO",
		"content":        "Flash Sale!",
		"recipients":     []any{"+244990000001", "+244990000002"},
	}
}

func bodyWith(t testing.TB, mutate func(m map[string]any)) []byte {
	t.Helper()
	m := validFields()
	if mutate != nil {
		mutate(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func set(key string, v any) func(map[string]any) {
	return func(m map[string]any) { m[key] = v }
}

func raw(key, js string) func(map[string]any) {
	return set(key, json.RawMessage(js))
}

func del(keys ...string) func(map[string]any) {
	return func(m map[string]any) {
		for _, k := range keys {
			delete(m, k)
		}
	}
}

func all(fs ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, f := range fs {
			f(m)
		}
	}
}

func numbers(n int, item func(i int) any) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = item(i)
	}
	return out
}

func goodNumber(i int) any { return fmt.Sprintf("+2449%08d", i) }

func TestParseBatchSeedExample(t *testing.T) {
	r, errs := ParseBatch([]byte(seedBody))
	if errs != nil {
		t.Fatalf("seed example refused: %v", errs)
	}
	want := campaign.Request{
		Name:          "Black Friday Promo - Luanda",
		Content:       "Flash Sale! Enjoy 50% off on all items this weekend only.",
		ChannelType:   "SMS",
		CountryAlpha2: "AO",
		RemitterID:    uuid.MustParse(seedRemitter),
		Recipients:    []string{"+244990000001", "+244990000002", "990000003"},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
}

func TestParseBatchFields(t *testing.T) {
	patternRecipient := `String should match pattern '^\+?[\d\s\-\.]{7,30}$'.`
	patternCountry := `String should match pattern '^[A-Z]{2}$'.`

	tests := []struct {
		name   string
		mutate func(map[string]any)
		want   campaign.FieldErrors // nil: accepted
	}{
		{name: "valid", mutate: nil},
		{name: "unknown field ignored", mutate: set("priority", "high")},

		// name
		{name: "name 1 char", mutate: set("name", "x")},
		{name: "name 200 chars", mutate: set("name", strings.Repeat("a", 200))},
		{name: "name 200 multibyte chars", mutate: set("name", strings.Repeat("ç", 200))},
		{name: "name 201 chars", mutate: set("name", strings.Repeat("a", 201)),
			want: campaign.FieldErrors{"name": "String should have at most 200 characters"}},
		{name: "name 201 multibyte chars", mutate: set("name", strings.Repeat("ç", 201)),
			want: campaign.FieldErrors{"name": "String should have at most 200 characters"}},
		{name: "name empty", mutate: set("name", ""),
			want: campaign.FieldErrors{"name": "String should have at least 1 character"}},
		{name: "name number", mutate: raw("name", `42`),
			want: campaign.FieldErrors{"name": "Input should be a valid string"}},
		{name: "name null", mutate: raw("name", `null`),
			want: campaign.FieldErrors{"name": "Input should be a valid string"}},
		{name: "name list", mutate: raw("name", `["a"]`),
			want: campaign.FieldErrors{"name": "Input should be a valid string"}},
		{name: "name missing", mutate: del("name"),
			want: campaign.FieldErrors{"name": "Field required"}},

		// content
		{name: "content 10000 chars", mutate: set("content", strings.Repeat("a", 10000))},
		{name: "content 10000 emoji", mutate: set("content", strings.Repeat("😀", 10000))},
		{name: "content 10001 chars", mutate: set("content", strings.Repeat("a", 10001)),
			want: campaign.FieldErrors{"content": "String should have at most 10000 characters"}},
		{name: "content 10001 emoji", mutate: set("content", strings.Repeat("😀", 10001)),
			want: campaign.FieldErrors{"content": "String should have at most 10000 characters"}},
		{name: "content 9999 ascii + 1 emoji", mutate: set("content", strings.Repeat("a", 9999)+"😀")},
		{name: "content escaped surrogate pair is one char",
			mutate: raw("content", `"`+strings.Repeat("a", 9999)+`\ud83d\ude00"`)},
		{name: "content empty", mutate: set("content", ""),
			want: campaign.FieldErrors{"content": "String should have at least 1 character"}},
		{name: "content bool", mutate: raw("content", `true`),
			want: campaign.FieldErrors{"content": "Input should be a valid string"}},
		{name: "content object", mutate: raw("content", `{"text":"hi"}`),
			want: campaign.FieldErrors{"content": "Input should be a valid string"}},
		{name: "content missing", mutate: del("content"),
			want: campaign.FieldErrors{"content": "Field required"}},

		// channel_type
		{name: "channel lower case", mutate: set("channel_type", "sms"),
			want: campaign.FieldErrors{"channel_type": "Input should be 'SMS'"}},
		{name: "channel other", mutate: set("channel_type", "EMAIL"),
			want: campaign.FieldErrors{"channel_type": "Input should be 'SMS'"}},
		{name: "channel padded", mutate: set("channel_type", " SMS"),
			want: campaign.FieldErrors{"channel_type": "Input should be 'SMS'"}},
		{name: "channel empty", mutate: set("channel_type", ""),
			want: campaign.FieldErrors{"channel_type": "Input should be 'SMS'"}},
		{name: "channel number", mutate: raw("channel_type", `1`),
			want: campaign.FieldErrors{"channel_type": "Input should be a valid string"}},
		{name: "channel null", mutate: raw("channel_type", `null`),
			want: campaign.FieldErrors{"channel_type": "Input should be a valid string"}},
		{name: "channel missing", mutate: del("channel_type"),
			want: campaign.FieldErrors{"channel_type": "Field required"}},

		// remitter_id
		{name: "remitter upper case", mutate: set("remitter_id", strings.ToUpper(seedRemitter))},
		{name: "remitter braced", mutate: set("remitter_id", "{"+seedRemitter+"}")},
		{name: "remitter URN", mutate: set("remitter_id", "urn:uuid:"+seedRemitter)},
		{name: "remitter without hyphens", mutate: set("remitter_id", strings.ReplaceAll(seedRemitter, "-", ""))},
		{name: "remitter v4", mutate: set("remitter_id", uuidV4),
			want: campaign.FieldErrors{"remitter_id": "UUID version 7 expected"}},
		{name: "remitter v1", mutate: set("remitter_id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
			want: campaign.FieldErrors{"remitter_id": "UUID version 7 expected"}},
		{name: "remitter nil UUID", mutate: set("remitter_id", uuid.Nil.String()),
			want: campaign.FieldErrors{"remitter_id": "UUID version 7 expected"}},
		{name: "remitter max UUID", mutate: set("remitter_id", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
			want: campaign.FieldErrors{"remitter_id": "UUID version 7 expected"}},
		{name: "remitter v7 nibble, wrong variant", mutate: set("remitter_id", uuidV7WrongVariant),
			want: campaign.FieldErrors{"remitter_id": "UUID version 7 expected"}},
		{name: "remitter not a UUID", mutate: set("remitter_id", "not-a-uuid"),
			want: campaign.FieldErrors{"remitter_id": "Input should be a valid UUID"}},
		{name: "remitter bad hex", mutate: set("remitter_id", "019b4b56-e704-7c30-83a0-527df63c3e0g"),
			want: campaign.FieldErrors{"remitter_id": "Input should be a valid UUID"}},
		{name: "remitter empty", mutate: set("remitter_id", ""),
			want: campaign.FieldErrors{"remitter_id": "Input should be a valid UUID"}},
		{name: "remitter number", mutate: raw("remitter_id", `7`),
			want: campaign.FieldErrors{"remitter_id": "Input should be a valid UUID"}},
		{name: "remitter null", mutate: raw("remitter_id", `null`),
			want: campaign.FieldErrors{"remitter_id": "Input should be a valid UUID"}},
		{name: "remitter missing", mutate: del("remitter_id"),
			want: campaign.FieldErrors{"remitter_id": "Field required"}},

		// country_alpha2
		{name: "country PT", mutate: set("country_alpha2", "PT")},
		{name: "country lower case", mutate: set("country_alpha2", "ao"),
			want: campaign.FieldErrors{"country_alpha2": patternCountry}},
		{name: "country 3 letters", mutate: set("country_alpha2", "AOO"),
			want: campaign.FieldErrors{"country_alpha2": patternCountry}},
		{name: "country 1 letter", mutate: set("country_alpha2", "A"),
			want: campaign.FieldErrors{"country_alpha2": patternCountry}},
		{name: "country empty", mutate: set("country_alpha2", ""),
			want: campaign.FieldErrors{"country_alpha2": patternCountry}},
		{name: "country trailing newline", mutate: set("country_alpha2", "AO\n"),
			want: campaign.FieldErrors{"country_alpha2": patternCountry}},
		{name: "country non-ASCII letter", mutate: set("country_alpha2", "ÅO"),
			want: campaign.FieldErrors{"country_alpha2": patternCountry}},
		{name: "country not assigned", mutate: set("country_alpha2", "XX"),
			want: campaign.FieldErrors{"country_alpha2": "Value error, 'XX' is not an ISO 3166-1 alpha-2 country code."}},
		{name: "country exceptionally reserved UK", mutate: set("country_alpha2", "UK"),
			want: campaign.FieldErrors{"country_alpha2": "Value error, 'UK' is not an ISO 3166-1 alpha-2 country code."}},
		{name: "country without a numbering plan AQ", mutate: set("country_alpha2", "AQ"),
			want: campaign.FieldErrors{"country_alpha2": "Value error, 'AQ' (Antarctica) has no telephone numbering plan, so local numbers cannot be read for it; " +
				"give the country whose numbering plan the recipients' numbers follow."}},
		{name: "country number", mutate: raw("country_alpha2", `12`),
			want: campaign.FieldErrors{"country_alpha2": "Input should be a valid string"}},
		{name: "country null", mutate: raw("country_alpha2", `null`),
			want: campaign.FieldErrors{"country_alpha2": "Input should be a valid string"}},
		{name: "country missing", mutate: del("country_alpha2"),
			want: campaign.FieldErrors{"country_alpha2": "Field required"}},

		// recipients: list
		{name: "recipients 2 items", mutate: set("recipients", numbers(2, goodNumber))},
		{name: "recipients 1000 items", mutate: set("recipients", numbers(1000, goodNumber))},
		{name: "recipients 1 item", mutate: set("recipients", numbers(1, goodNumber)),
			want: campaign.FieldErrors{"recipients": "Ensure this value has at least 2 items."}},
		{name: "recipients 1 bad item", mutate: set("recipients", []any{"x"}),
			want: campaign.FieldErrors{
				"recipients":    "Ensure this value has at least 2 items.",
				"recipients[0]": patternRecipient,
			}},
		{name: "recipients empty", mutate: set("recipients", []any{}),
			want: campaign.FieldErrors{"recipients": "Ensure this value has at least 2 items."}},
		{name: "recipients 1001 items", mutate: set("recipients", numbers(1001, goodNumber)),
			want: campaign.FieldErrors{"recipients": "Ensure this value has at most 1000 items."}},
		{name: "recipients 1001 bad items are not scanned",
			mutate: set("recipients", numbers(1001, func(int) any { return 1 })),
			want:   campaign.FieldErrors{"recipients": "Ensure this value has at most 1000 items."}},
		{name: "recipients string", mutate: set("recipients", "+244990000001"),
			want: campaign.FieldErrors{"recipients": "Input should be a valid list"}},
		{name: "recipients object", mutate: raw("recipients", `{"0":"+244990000001"}`),
			want: campaign.FieldErrors{"recipients": "Input should be a valid list"}},
		{name: "recipients null", mutate: raw("recipients", `null`),
			want: campaign.FieldErrors{"recipients": "Input should be a valid list"}},
		{name: "recipients missing", mutate: del("recipients"),
			want: campaign.FieldErrors{"recipients": "Field required"}},

		// recipients: items
		{name: "item 7 digits", mutate: set("recipients", []any{"1234567", "+1234567"})},
		{name: "item 30 digits", mutate: set("recipients", []any{strings.Repeat("9", 30), "+" + strings.Repeat("9", 30)})},
		{name: "item separators", mutate: set("recipients", []any{"+244 990-000.001", "\t\n\f\r 1234"})},
		{name: "item 6 digits", mutate: set("recipients", []any{"123456", "+123456"}),
			want: campaign.FieldErrors{"recipients[0]": patternRecipient, "recipients[1]": patternRecipient}},
		{name: "item 31 digits", mutate: set("recipients", []any{strings.Repeat("9", 31), "+" + strings.Repeat("9", 31)}),
			want: campaign.FieldErrors{"recipients[0]": patternRecipient, "recipients[1]": patternRecipient}},
		{name: "item bad characters", mutate: set("recipients", []any{
			"++1234567", "1234567+", "+", "", "\v1234567", "١٢٣٤٥٦٧٨", "1234567a", "(244) 990 000 001", "+244990000001",
		}),
			want: campaign.FieldErrors{
				"recipients[0]": patternRecipient, "recipients[1]": patternRecipient,
				"recipients[2]": patternRecipient, "recipients[3]": patternRecipient,
				"recipients[4]": patternRecipient, "recipients[5]": patternRecipient,
				"recipients[6]": patternRecipient, "recipients[7]": patternRecipient,
			}},
		{name: "item wrong types", mutate: raw("recipients", `["+244990000001", 244990000002, null, [], {}, true]`),
			want: campaign.FieldErrors{
				"recipients[1]": "Input should be a valid string",
				"recipients[2]": "Input should be a valid string",
				"recipients[3]": "Input should be a valid string",
				"recipients[4]": "Input should be a valid string",
				"recipients[5]": "Input should be a valid string",
			}},
		{name: "item escaped digits", mutate: raw("recipients", `["\u0031\u0032\u0033\u0034\u0035\u0036\u0037", "+244990000001"]`)},

		// everything at once
		{name: "all fields missing", mutate: del("name", "content", "channel_type", "remitter_id", "recipients", "country_alpha2"),
			want: campaign.FieldErrors{
				"name": "Field required", "content": "Field required", "channel_type": "Field required",
				"remitter_id": "Field required", "recipients": "Field required", "country_alpha2": "Field required",
			}},
		{name: "all fields wrong", mutate: all(
			set("name", ""),
			set("content", strings.Repeat("x", 10001)),
			set("channel_type", "WHATSAPP"),
			set("remitter_id", uuidV4),
			set("recipients", []any{"+244990000001", "abc"}),
			set("country_alpha2", "ao"),
		),
			want: campaign.FieldErrors{
				"name":           "String should have at least 1 character",
				"content":        "String should have at most 10000 characters",
				"channel_type":   "Input should be 'SMS'",
				"remitter_id":    "UUID version 7 expected",
				"recipients[1]":  patternRecipient,
				"country_alpha2": patternCountry,
			}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := bodyWith(t, tc.mutate)
			r, errs := ParseBatch(body)
			if !maps.Equal(errs, tc.want) || (tc.want == nil) != (errs == nil) {
				t.Fatalf("errors:\n got %q\nwant %q", errs, tc.want)
			}
			if tc.want != nil {
				if !reflect.DeepEqual(r, campaign.Request{}) {
					t.Fatalf("request not zero on failure: %+v", r)
				}
				return
			}
			assertValid(t, r)
		})
	}
}

func TestParseBatchKeepsValues(t *testing.T) {
	body := bodyWith(t, all(
		set("name", "  Promo ç  "),
		set("remitter_id", "{"+strings.ToUpper(seedRemitter)+"}"),
		raw("content", `"ol\u00e1 \ud83d\ude00"`),
		set("recipients", []any{" 244 990 000 001 ", "+244.990.000.002"}),
	))
	r, errs := ParseBatch(body)
	if errs != nil {
		t.Fatal(errs)
	}
	if r.Name != "  Promo ç  " || r.Content != "olá 😀" || r.RemitterID.String() != seedRemitter {
		t.Fatalf("values changed: %+v", r)
	}
	if !reflect.DeepEqual(r.Recipients, []string{" 244 990 000 001 ", "+244.990.000.002"}) {
		t.Fatalf("recipients changed: %q", r.Recipients)
	}
}

func TestParseBatchRecipientErrorCap(t *testing.T) {
	// 40 items, of which all but indexes 0, 10 and 20 fail: 37 failures.
	items := numbers(40, func(i int) any {
		if i%10 == 0 && i <= 20 {
			return goodNumber(i)
		}
		return "bad"
	})
	_, errs := ParseBatch(bodyWith(t, set("recipients", items)))

	want := campaign.FieldErrors{"recipients": "37 items failed validation; the first 20 are listed."}
	listed := 0
	for i := range items {
		if listed == 20 {
			break
		}
		if i%10 == 0 && i <= 20 {
			continue
		}
		want["recipients["+strconv.Itoa(i)+"]"] = "String should match pattern '^\\+?[\\d\\s\\-\\.]{7,30}$'."
		listed++
	}
	if !maps.Equal(errs, want) {
		t.Fatalf("got %q\nwant %q", errs, want)
	}
	if _, ok := errs["recipients[22]"]; !ok {
		t.Fatal("the 20th failure (index 22) should be listed")
	}
	if _, ok := errs["recipients[23]"]; ok {
		t.Fatal("the 21st failure (index 23) should not be listed")
	}
}

func TestParseBatchRecipientErrorCapBoundary(t *testing.T) {
	bad := func(n int) []any { return numbers(n, func(int) any { return "bad" }) }

	_, errs := ParseBatch(bodyWith(t, set("recipients", bad(20))))
	if len(errs) != 20 || errs["recipients"] != "" {
		t.Fatalf("20 failures must all be listed without a summary: %q", errs)
	}
	_, errs = ParseBatch(bodyWith(t, set("recipients", bad(21))))
	if len(errs) != 21 || errs["recipients"] != "21 items failed validation; the first 20 are listed." {
		t.Fatalf("21 failures: %q", errs)
	}
	_, errs = ParseBatch(bodyWith(t, set("recipients", bad(1000))))
	if len(errs) != 21 || errs["recipients"] != "1000 items failed validation; the first 20 are listed." {
		t.Fatalf("1000 failures: %d errors, summary %q", len(errs), errs["recipients"])
	}
}

func TestParseBatchBody(t *testing.T) {
	const notObject = "Input should be a valid dictionary or object"
	tests := []struct {
		name    string
		body    string
		want    string // the "body" message, or its prefix for invalid JSON
		invalid bool
	}{
		{name: "empty", body: "", invalid: true},
		{name: "whitespace only", body: " \n", invalid: true},
		{name: "unterminated object", body: `{"name": "x"`, invalid: true},
		{name: "missing value", body: `{"name": }`, invalid: true},
		{name: "trailing comma", body: `{"name": "x",}`, invalid: true},
		{name: "single quotes", body: `{'name': 'x'}`, invalid: true},
		{name: "trailing garbage", body: seedBody + "x", invalid: true},
		{name: "two objects", body: seedBody + seedBody, invalid: true},
		{name: "control char in string", body: "{\"name\": \"a\x01b\"}", invalid: true},
		{name: "array", body: `[` + seedBody + `]`, want: notObject},
		{name: "empty array", body: `[]`, want: notObject},
		{name: "null", body: `null`, want: notObject},
		{name: "string", body: `"hello"`, want: notObject},
		{name: "number", body: `42`, want: notObject},
		{name: "bool", body: `true`, want: notObject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, errs := ParseBatch([]byte(tc.body))
			if len(errs) != 1 {
				t.Fatalf("want only a body error, got %q", errs)
			}
			msg, ok := errs["body"]
			if !ok {
				t.Fatalf("want a body error, got %q", errs)
			}
			if tc.invalid {
				if !strings.HasPrefix(msg, "Invalid JSON: ") || len(msg) == len("Invalid JSON: ") {
					t.Fatalf("got %q", msg)
				}
			} else if msg != tc.want {
				t.Fatalf("got %q, want %q", msg, tc.want)
			}
			if !reflect.DeepEqual(r, campaign.Request{}) {
				t.Fatalf("request not zero on failure: %+v", r)
			}
		})
	}
}

func TestParseBatchBodyEdges(t *testing.T) {
	t.Run("surrounding whitespace", func(t *testing.T) {
		if _, errs := ParseBatch([]byte("\n\t " + seedBody + " \r\n")); errs != nil {
			t.Fatal(errs)
		}
	})
	t.Run("duplicate key, last wins", func(t *testing.T) {
		body := strings.Replace(seedBody, `"name": "Black Friday Promo - Luanda",`,
			`"name": 1, "name": "first", "name": "last",`, 1)
		r, errs := ParseBatch([]byte(body))
		if errs != nil || r.Name != "last" {
			t.Fatalf("got %q, %q", r.Name, errs)
		}
	})
	t.Run("empty object", func(t *testing.T) {
		_, errs := ParseBatch([]byte(`{}`))
		if len(errs) != 6 {
			t.Fatalf("want the six fields required, got %q", errs)
		}
	})
	t.Run("keys are case-sensitive", func(t *testing.T) {
		body := strings.Replace(seedBody, `"name"`, `"Name"`, 1)
		_, errs := ParseBatch([]byte(body))
		if !maps.Equal(errs, campaign.FieldErrors{"name": "Field required"}) {
			t.Fatalf("got %q", errs)
		}
	})
	t.Run("invalid UTF-8 is refused, not replaced with U+FFFD", func(t *testing.T) {
		body := strings.Replace(seedBody, `"Black Friday Promo - Luanda"`, "\"\xff\xfe\"", 1)
		_, errs := ParseBatch([]byte(body))
		if !maps.Equal(errs, campaign.FieldErrors{"name": text.MsgInvalidUTF8}) {
			t.Fatalf("got %q", errs)
		}
	})
}

// assertValid re-checks an accepted request with the regexp engine and the
// published rules, independently of the code under test.
func assertValid(t testing.TB, r campaign.Request) {
	t.Helper()
	if n := utf8.RuneCountInString(r.Name); n < 1 || n > 200 {
		t.Fatalf("accepted name of %d chars", n)
	}
	if n := utf8.RuneCountInString(r.Content); n < 1 || n > 10000 {
		t.Fatalf("accepted content of %d chars", n)
	}
	if p := text.Problem(r.Name, text.Line); p != "" {
		t.Fatalf("accepted name %q: %s", r.Name, p)
	}
	if p := text.Problem(r.Content, text.Multiline); p != "" {
		t.Fatalf("accepted content %q: %s", r.Content, p)
	}
	if r.ChannelType != "SMS" {
		t.Fatalf("accepted channel %q", r.ChannelType)
	}
	if r.RemitterID.Version() != 7 || r.RemitterID.Variant() != uuid.RFC4122 {
		t.Fatalf("accepted remitter %s", r.RemitterID)
	}
	if !reCountry.MatchString(r.CountryAlpha2) || !slices.Contains(campaign.CountryCodes(), r.CountryAlpha2) {
		t.Fatalf("accepted country %q", r.CountryAlpha2)
	}
	if n := len(r.Recipients); n < 2 || n > campaign.MaxRecipients {
		t.Fatalf("accepted %d recipients", n)
	}
	for i, s := range r.Recipients {
		if !reRecipient.MatchString(s) {
			t.Fatalf("accepted recipient %d: %q", i, s)
		}
	}
}

// decodeString gives what encoding/json gives for every string it decodes
// faithfully, and a problem instead of its U+FFFD repairs.
func TestDecodeStringMatchesEncodingJSON(t *testing.T) {
	for _, js := range []string{
		`""`, `"a"`, `"olá"`, `"\u00e1"`, `"\ud83d\ude00"`, `"a\"b"`, `"\\"`,
		`"\/"`, ` "lead"`, `null`, `1`, `[]`, `{}`, `true`,
	} {
		got, problem, gotOK := decodeString(json.RawMessage(js))
		var want string
		wantOK := strings.HasPrefix(strings.TrimLeft(js, " "), `"`) && json.Unmarshal([]byte(js), &want) == nil
		if got != want || gotOK != wantOK || problem != "" {
			t.Errorf("decodeString(%s) = %q, %q, %v; encoding/json gives %q, %v", js, got, problem, gotOK, want, wantOK)
		}
	}
	for _, js := range []string{`"\ud83d"`, "\"\xff\"", "\"\xe2\x82\"", `"\udc00x"`} {
		if got, problem, ok := decodeString(json.RawMessage(js)); !ok || problem == "" || got != "" {
			t.Errorf("decodeString(%s) = %q, %q, %v; want a problem", js, got, problem, ok)
		}
	}
}

func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(seedBody))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{"name":"x","content":"y","channel_type":"SMS","remitter_id":"019b4b56-e704-7c30-83a0-527df63c3e00","country_alpha2":"PT","recipients":["1234567","+1 2.3-4\t567"]}`))
	f.Add([]byte(`{"name":"\u00e9","content":"\ud83d\ude00","channel_type":"SMS","remitter_id":"{019B4B56-E704-7C30-83A0-527DF63C3E00}","country_alpha2":"AO","recipients":["\u0031234567","+244990000002"],"name":"z"}`))
	f.Add([]byte(`{"name":1,"content":null,"channel_type":"sms","remitter_id":"550e8400-e29b-41d4-a716-446655440000","country_alpha2":"XX","recipients":[1,null,"abc"]}`))
	f.Add([]byte(seedBody + " x"))
	f.Add([]byte(`{"name":"n\u0000ame","content":"a\ud800","channel_type":"SMS","remitter_id":"019b4b56-e704-7c30-83a0-527df63c3e00","country_alpha2":"AO","recipients":["1234567","2345678"]}`))
	f.Add([]byte("{\"name\":\"caf\xe9\",\"content\":\"x\\n\\ty\",\"channel_type\":\"SMS\",\"remitter_id\":\"019b4b56-e704-7c30-83a0-527df63c3e00\",\"country_alpha2\":\"AO\",\"recipients\":[\"1234567\",\"2345678\"]}"))

	f.Fuzz(func(t *testing.T, body []byte) {
		r, errs := ParseBatch(body)
		if errs == nil {
			if !json.Valid(body) {
				t.Fatal("accepted invalid JSON")
			}
			assertValid(t, r)
			return
		}
		if len(errs) == 0 {
			t.Fatal("non-nil but empty campaign.FieldErrors")
		}
		if !reflect.DeepEqual(r, campaign.Request{}) {
			t.Fatalf("request not zero on failure: %+v", r)
		}
		if _, ok := errs["body"]; ok && len(errs) != 1 {
			t.Fatalf("body error mixed with field errors: %q", errs)
		}
		items := 0
		for k, msg := range errs {
			if msg == "" {
				t.Fatalf("empty message for %q", k)
			}
			switch k {
			case "body", "name", "content", "channel_type", "remitter_id", "recipients", "country_alpha2":
				continue
			}
			idx, ok := strings.CutPrefix(k, "recipients[")
			idx, ok2 := strings.CutSuffix(idx, "]")
			i, err := strconv.Atoi(idx)
			if !ok || !ok2 || err != nil || i < 0 || i >= campaign.MaxRecipients {
				t.Fatalf("unexpected key %q", k)
			}
			items++
		}
		if items > 20 {
			t.Fatalf("%d recipient items listed", items)
		}
	})
}

func BenchmarkParseBatch1000Recipients(b *testing.B) {
	body := bodyWith(b, all(
		set("recipients", numbers(1000, goodNumber)),
		set("content", strings.Repeat("Olá! ", 100)),
	))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := ParseBatch(body); errs != nil {
			b.Fatal(errs)
		}
	}
}

// Text that PostgreSQL cannot store, or that encoding/json would repair
// silently (changing the text and its price), is refused in the field it
// is in; line breaks and tabs stay allowed in the message content only.
func TestParseBatchRefusesWhatCannotBeStored(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(map[string]any)
		field  string // "" when the request is accepted
		want   string // part of the message
	}{
		{"NUL in the name", raw("name", `"n\u0000ame"`), "name", "found U+0000 at character 2"},
		{"line feed in the name", raw("name", `"two\nlines"`), "name", "U+000A"},
		{"escape character in the name", raw("name", `"\u001b[1m"`), "name", "U+001B"},
		{"C1 control in the name", raw("name", `"a\u0085"`), "name", "U+0085"},
		{"lone high surrogate in the name", raw("name", `"promo \ud83d"`), "name", "lone surrogate"},
		{"lone low surrogate in the content", raw("content", `"hi \ude00"`), "content", "lone surrogate"},
		{"invalid UTF-8 byte in the content", raw("content", "\"caf\xe9\""), "content", "valid UTF-8"},
		{"NUL in the content", raw("content", `"Hello\u0000"`), "content", "found U+0000"},
		{"bell in the content", raw("content", `"Hello\u0007"`), "content", "U+0007"},
		{"invalid UTF-8 in a recipient", raw("recipients", "[\"+244990000001\", \"+24499\xff0000002\"]"), "recipients[1]", "valid UTF-8"},
		{"lone surrogate in the remitter", raw("remitter_id", `"\ud800"`), "remitter_id", "lone surrogate"},
		{"line breaks and tab are allowed in the content", raw("content", `"Hello,\r\n\tworld"`), "", ""},
		{"an escaped surrogate pair is one character", raw("name", `"Promo \ud83d\ude00"`), "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := bodyWith(t, c.mutate)
			r, errs := ParseBatch(body)
			if c.field == "" {
				if errs != nil {
					t.Fatalf("refused: %v", errs)
				}
				assertValid(t, r)
				return
			}
			if msg := errs[c.field]; !strings.Contains(msg, c.want) || len(errs) != 1 {
				t.Fatalf("errors %q, want only %s with %q", errs, c.field, c.want)
			}
		})
	}
	r, errs := ParseBatch(bodyWith(t, raw("name", `"Promo \ud83d\ude00"`)))
	if errs != nil || r.Name != "Promo 😀" {
		t.Fatalf("surrogate pair decoded as %q (%v)", r.Name, errs)
	}
}

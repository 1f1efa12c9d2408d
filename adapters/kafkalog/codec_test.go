package kafkalog

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/domain/events"
)

// The headers are the CloudEvents attributes other tools read, so they must
// be exactly the canonical text forms, and Decode must give back the event.
func TestEncodeWritesCanonicalHeaders(t *testing.T) {
	at := time.Date(2026, 5, 14, 10, 30, 0, 123456789, time.FixedZone("WAT", 3600))
	for _, tc := range []struct {
		name                string
		campaign, causation uuid.UUID
		trace               string
	}{
		{"campaign event", uuid.Must(uuid.NewV7()), uuid.New(), "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"organisation event", uuid.Nil, uuid.Nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			org := uuid.New()
			e, err := events.New(uuid.Must(uuid.NewV7()), org, tc.campaign, events.CampaignCompletedV1{Total: 3, Sent: 2, Failed: 1},
				at, tc.trace, tc.causation, "completion")
			if err != nil {
				t.Fatal(err)
			}
			r := Encode(MessageEvents, org, e)
			want := map[string]string{
				hSpec: "1.0", hID: e.ID.String(), hType: "co.ziett.campaigns.CampaignCompleted.v1",
				hSource: "/ziett/completion", hTime: at.UTC().Format(time.RFC3339Nano),
				hContentType: "application/json", hOrg: org.String(),
			}
			if tc.campaign != uuid.Nil {
				want[hCampaign] = tc.campaign.String()
				want[hSubject] = "campaigns/" + tc.campaign.String()
			}
			if tc.trace != "" {
				want[hTrace] = tc.trace
			}
			if tc.causation != uuid.Nil {
				want[hCausation] = tc.causation.String()
			}
			got := map[string]string{}
			for _, h := range r.Headers {
				got[h.Key] = string(h.Value)
			}
			if len(got) != len(r.Headers) || len(got) != len(want) {
				t.Fatalf("headers %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("header %s = %q, want %q", k, got[k], v)
				}
			}
			back, err := Decode(r)
			if err != nil {
				t.Fatal(err)
			}
			if back.ID != e.ID || back.Type != e.Type || back.Version != e.Version || !back.OccurredAt.Equal(at) ||
				back.OrgID != org || back.CampaignID != tc.campaign || back.CausationID != tc.causation || back.TraceID != tc.trace ||
				back.Source != "completion" || string(back.Data) != string(e.Data) {
				t.Fatalf("Decode(Encode(e)) = %+v, want %+v", back, e)
			}
		})
	}
}

// Deliveries are encoded with go-json; what kcat shows and what older
// dispatchers read is encoding/json's output, escaping included.
func TestDeliveryEncodingIsStandard(t *testing.T) {
	d := events.Delivery{MessageID: uuid.New(), CampaignID: uuid.New(), OrgID: uuid.New(), Index: 3, To: "+244923456789",
		Sender: "ZIETT", Content: "Olá <b>&</b> \"amigo\"\n\\ \u2028 \x02 😀 ção", Segments: 2, Cost: 1000, Currency: "AOA",
		Provider: "unitel", CampaignTotal: 1000, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", CausationID: uuid.New()}
	r, err := EncodeDelivery(d)
	if err != nil {
		t.Fatal(err)
	}
	std, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Value) != string(std) {
		t.Fatalf("delivery encoding\n got  %s\n want %s", r.Value, std)
	}
	back, err := DecodeDelivery(r)
	if err != nil || back != d {
		t.Fatalf("DecodeDelivery = %+v, %v; want %+v", back, err, d)
	}
}

// Each stream's messages go to their topic under the key that orders them,
// and come back as the same message placed where the record sat.
func TestMessagesRoundTripThroughTheirTopics(t *testing.T) {
	org, camp := uuid.New(), uuid.Must(uuid.NewV7())
	env, err := events.New(uuid.New(), org, camp, events.FundsDebitedV1{Amount: 5, Currency: "AOA"}, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	d := events.Delivery{MessageID: events.MessageID(camp, 0), CampaignID: camp, OrgID: org, Provider: "unitel", To: "+244923000000"}
	prio := d
	prio.Priority = true
	rc := events.Receipt{MessageID: d.MessageID, CampaignID: camp, OrgID: org, Parts: 1, Stat: "DELIVRD"}
	for _, tc := range []struct {
		name  string
		m     events.Message
		topic string
		key   uuid.UUID
	}{
		{"organisation events by organisation", events.OnOrgStream(env), OrgEvents, org},
		{"message events by campaign", events.OnMessageStream(env), MessageEvents, camp},
		{"deliveries on the provider's queue by message", events.ToDeliver(d), DeliveryTopic("unitel"), d.MessageID},
		{"single messages on the priority queue", events.ToDeliver(prio), PriorityDeliveryTopic("unitel"), d.MessageID},
		{"receipts by campaign", events.OfReceipt(rc), Receipts, camp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := EncodeMessage(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if r.Topic != tc.topic || string(r.Key) != tc.key.String() {
				t.Fatalf("record on %s keyed %s, want %s keyed %s", r.Topic, r.Key, tc.topic, tc.key)
			}
			r.Partition, r.Offset = 3, 42
			back, err := DecodeMessage(r)
			if err != nil {
				t.Fatal(err)
			}
			if back.Stream != tc.m.Stream || back.At.Log != tc.topic || back.At.Shard != 3 || back.At.Offset != 42 ||
				back.Event.ID != tc.m.Event.ID || !samePtr(back.Delivery, tc.m.Delivery) || !samePtr(back.Receipt, tc.m.Receipt) {
				t.Fatalf("decoded %+v from %+v", back, tc.m)
			}
		})
	}
}

func TestWhatTheCodecRefuses(t *testing.T) {
	unregistered := events.OnOrgStream(events.Envelope{ID: uuid.New(), Type: "CampaignExploded", Version: 1, Data: []byte(`{}`)})
	if _, err := EncodeMessage(unregistered); err == nil {
		t.Error("an unregistered event was encoded")
	}
	for name, r := range map[string]*kgo.Record{
		"a record on no stream's topic": {Topic: "elsewhere", Value: []byte(`{}`)},
		"a receipt without ids":         {Topic: Receipts, Value: []byte(`{"parts":1}`)},
		"a receipt part outside its message": {Topic: Receipts,
			Value: []byte(`{"message_id":"` + uuid.NewString() + `","campaign_id":"` + uuid.NewString() + `","part":2,"parts":2}`)},
		"a delivery without a message id": {Topic: DeliveryTopic("unitel"), Value: []byte(`{"provider":"unitel"}`)},
		"an event without headers":        {Topic: OrgEvents, Value: []byte(`{}`)},
	} {
		if _, err := DecodeMessage(r); err == nil {
			t.Errorf("%s decoded", name)
		}
	}
}

// samePtr reports whether a and b are both nil or point to equal values.
func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

package events

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestEveryKindDecodesToItsPayload(t *testing.T) {
	if len(Kinds()) == 0 {
		t.Fatal("no kinds registered")
	}
	for _, k := range Kinds() {
		p := k.New()
		if p.EventType() != k.Type {
			t.Errorf("%s v%d: payload says %s", k.Type, k.Version, p.EventType())
		}
		if k.Schema() != string(k.Type)+".v1.json" && k.Version == 1 {
			t.Errorf("%s: schema %s", k.Type, k.Schema())
		}
	}
}

func TestPayloadDecodesThroughTheRegistry(t *testing.T) {
	e, err := New(uuid.New(), uuid.New(), uuid.New(), FundsDebitedV1{Amount: 1500, Currency: "AOA", BalanceAfter: 98500},
		time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	read := Envelope{ID: e.ID, Type: e.Type, Version: e.Version, Data: e.Data}
	if read.Payload() != nil {
		t.Fatal("an envelope read back has a payload before it is decoded")
	}
	if err := read.DecodePayload(); err != nil {
		t.Fatal(err)
	}
	d, ok := read.Payload().(FundsDebitedV1)
	if !ok || d.Amount != 1500 || d.BalanceAfter != 98500 {
		t.Fatalf("payload %#v", read.Payload())
	}
}

func TestUnknownKindsHaveNoPayload(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Envelope
		err  bool
	}{
		{"a type this build does not know is skipped", Envelope{ID: uuid.New(), Type: "CampaignExploded", Version: 1, Data: []byte(`{}`)}, false},
		{"a version this build does not know is skipped", Envelope{ID: uuid.New(), Type: FundsDebited, Version: 99, Data: []byte(`{}`)}, false},
		{"a known type with a bad payload is an error", Envelope{ID: uuid.New(), Type: FundsDebited, Version: 1, Data: []byte(`{"amount":"x"}`)}, true},
	} {
		err := tc.e.DecodePayload()
		if (err != nil) != tc.err || tc.e.Payload() != nil {
			t.Errorf("%s: error %v, payload %v", tc.name, err, tc.e.Payload())
		}
	}
}

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
	p, err := e.Payload()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := p.(FundsDebitedV1)
	if !ok || d.Amount != 1500 || d.BalanceAfter != 98500 {
		t.Fatalf("payload %#v", p)
	}
}

func TestUnknownKindsAreRefused(t *testing.T) {
	for name, e := range map[string]Envelope{
		"unknown type":    {ID: uuid.New(), Type: "CampaignExploded", Version: 1, Data: []byte(`{}`)},
		"unknown version": {ID: uuid.New(), Type: FundsDebited, Version: 99, Data: []byte(`{}`)},
		"bad payload":     {ID: uuid.New(), Type: FundsDebited, Version: 1, Data: []byte(`{"amount":"x"}`)},
	} {
		if _, err := e.Payload(); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

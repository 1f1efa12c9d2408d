package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestDerivedIDsAreStableAndDistinct(t *testing.T) {
	cause := uuid.MustParse("019b4b56-e704-7c30-83a0-527df63c3e00")
	a := DerivedID(cause, FundsDebited, 0)
	if a != DerivedID(cause, FundsDebited, 0) {
		t.Fatal("same inputs gave different ids: a replayed step would mint a second event")
	}
	others := []uuid.UUID{
		DerivedID(cause, CampaignProcessed, 0),
		DerivedID(cause, FundsDebited, 1),
		DerivedID(uuid.MustParse("019b4b56-e704-7c30-83a0-527df63c3e01"), FundsDebited, 0),
	}
	for _, o := range others {
		if o == a {
			t.Fatalf("different inputs collided on %s", a)
		}
	}
}

func TestMessageIDsAreStablePerIndex(t *testing.T) {
	c := uuid.MustParse("019b4b56-e704-7c30-83a0-527df63c3e00")
	seen := map[uuid.UUID]int{}
	for i := range 1000 {
		id := MessageID(c, i)
		if id != MessageID(c, i) {
			t.Fatalf("index %d: unstable id", i)
		}
		if j, dup := seen[id]; dup {
			t.Fatalf("indexes %d and %d share id %s", i, j, id)
		}
		seen[id] = i
	}
}

func TestNewCarriesTypeAndDecodes(t *testing.T) {
	org, camp, cause := uuid.New(), uuid.New(), uuid.New()
	at := time.Date(2026, 5, 14, 10, 30, 0, 0, time.FixedZone("WAT", 3600))
	e, err := New(uuid.New(), org, camp, FundsDebitedV1{Amount: 1500, Currency: "AOA", BalanceAfter: 98500}, at, "abc", cause, "processor")
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != FundsDebited || e.Version != Version || e.OccurredAt.Location() != time.UTC || !e.OccurredAt.Equal(at) {
		t.Fatalf("envelope = %+v", e)
	}
	var p FundsDebitedV1
	if err := e.Decode(&p); err != nil || p.Amount != 1500 || p.BalanceAfter != 98500 {
		t.Fatalf("decoded %+v, %v", p, err)
	}
}

// The outcomes are encoded with go-json; readers and the event schemas
// expect what encoding/json writes, including its escaping.
func TestFastEncodingIsIdentical(t *testing.T) {
	for _, p := range []Payload{
		MessageSentV1{MessageOutcome{MessageID: uuid.New(), Index: 7, Provider: "unitel", CampaignTotal: 1000, Cost: 500,
			Currency: "AOA", Attempts: 1, ProviderRef: "ref-<&>\"\\\u2028é"}},
		MessageFailedV1{MessageOutcome{MessageID: uuid.New(), Provider: "movicel", Cost: 0, Currency: "AOA", Attempts: 5,
			ErrorCode: "TEMPORARY_FAILURE", Error: "busy: <retry> & \"later\"\n\t\x01 😀"}},
		MessageSentV1{},
		MessageDeliveredV1{MessageReceipt{MessageID: uuid.New(), Index: 3, Provider: "unitel", Status: ReceiptDelivered, Parts: 2,
			ProviderRefs: []string{"a1", "a2"}, Stat: "DELIVRD", Err: "000", Raw: "id:a2 sub:001 <&>", DoneAt: time.Date(2026, 5, 14, 10, 30, 0, 0, time.UTC)}},
		MessageUndeliveredV1{MessageReceipt{Status: ReceiptRejected, Stat: "REJECTD"}},
	} {
		fast, err := marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		std, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(fast) != string(std) {
			t.Errorf("%T:\n fast %s\n std  %s", p, fast, std)
		}
	}
}

package smpp

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestOutcomeRulesReadBackWhatTheyWrite(t *testing.T) {
	got, err := ParseRules(FormatRules(DefaultRules))
	if err != nil || !reflect.DeepEqual(got, DefaultRules) {
		t.Fatalf("%v %+v", err, got)
	}
	for _, bad := range []string{"13", "ab=DELIVRD", "13=NOPE", "13=0x", "13=0x0"} {
		if _, err := ParseRules(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewSMSC(SMSCConfig{Rules: []OutcomeRule{{Stat: "UNDELIV"}}}); err == nil {
		t.Error("a rule without a suffix accepted")
	}
	if _, err := NewSMSC(SMSCConfig{ThrottlePerSecond: -1}); err == nil {
		t.Error("a negative rate accepted")
	}
}

func TestReceiptLostWithItsBindIsDeliveredToTheNextBind(t *testing.T) {
	smsc := startSMSC(t, SMSCConfig{ReceiptRetry: 50 * time.Millisecond, Log: quietLog()})
	stuck := make(chan struct{})
	first, err := NewClient(ClientConfig{Addr: smsc.Addr(), SystemID: "a", Log: quietLog(), ResponseTimeout: time.Second,
		OnDeliver: func(ctx context.Context, d Delivery) error {
			close(stuck)
			<-ctx.Done() // never answers in time
			return ctx.Err()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { first.Run(ctx); close(ran) }()
	res, err := first.Submit(ctxT(t), Submission{Ref: uuid.New(), Source: "Z", Dest: "244990000001", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	<-stuck
	stop() // the bind goes away while the receipt is unanswered
	<-ran

	var dl deliveries
	runClient(t, ClientConfig{Addr: smsc.Addr(), SystemID: "a", OnDeliver: dl.add})
	eventually(t, "the receipt on the new bind", func() bool { return dl.receipts()[res.MessageIDs[0]] != nil })
	eventually(t, "its acknowledgement", func() bool { return smsc.Stats().ReceiptsAcked == 1 })
}

package campaigns_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/campaigns"
)

func (f *fixture) receipt(i int, status, stat, errc string) events.Message {
	p := events.MessageReceipt{MessageID: f.items[i].MessageID, Index: i, Provider: "unitel", Status: status, Parts: 1,
		ProviderRefs: []string{"smsc-" + uuid.NewString()[:8]}, Stat: stat, Err: errc, DoneAt: f.at.Add(time.Minute)}
	if status == events.ReceiptDelivered {
		return f.rec(events.MessageStream, events.MessageDeliveredV1{MessageReceipt: p})
	}
	return f.rec(events.MessageStream, events.MessageUndeliveredV1{MessageReceipt: p})
}

// A receipt moves a sent message on, whichever of the receipt, the outcome
// and the campaign's planning is projected first, and the counts, rate and
// message list show it.
func TestReceiptsInAnyOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order func(f *fixture) [][]events.Message
	}{
		{"outcome then receipts", func(f *fixture) [][]events.Message {
			return [][]events.Message{f.queued(), {f.outcome(0), f.outcome(1)}, {f.completion},
				{f.receipt(0, "DELIVERED", "DELIVRD", "000"), f.receipt(1, "UNDELIVERED", "UNDELIV", "001")}}
		}},
		{"receipts before their outcomes", func(f *fixture) [][]events.Message {
			return [][]events.Message{f.queued(), {f.receipt(0, "DELIVERED", "DELIVRD", "000"), f.receipt(1, "UNDELIVERED", "UNDELIV", "001")},
				{f.outcome(0), f.outcome(1)}, {f.completion}}
		}},
		{"receipts before the campaign's planning", func(f *fixture) [][]events.Message {
			q := f.queued()
			return [][]events.Message{{f.receipt(0, "DELIVERED", "DELIVRD", "000"), f.receipt(1, "UNDELIVERED", "UNDELIV", "001")},
				{f.outcome(0), f.outcome(1)}, q, {f.completion}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			batches := tc.order(f)
			for _, b := range batches {
				f.apply(b...)
			}
			// A replay of everything changes nothing.
			for _, b := range batches {
				f.apply(b...)
			}
			ctx := context.Background()
			r := campaigns.Reader{DB: f.e.Stack.DB}
			v, err := r.Get(ctx, f.org, f.id)
			if err != nil {
				t.Fatal(err)
			}
			m := v.Messages
			if v.Status != campaigns.StatusCompleted || m.Sent != 2 || m.Delivered != 1 || m.Undelivered != 1 || m.Queued != 0 || m.DeliveryRate != 0.5 {
				t.Fatalf("campaign %s messages %+v; want COMPLETED, 2 sent, 1 delivered, 1 undelivered, rate 0.5", v.Status, m)
			}
			if p := v.Providers["unitel"]; p.Delivered != 1 || p.DeliveryRate != 0.5 {
				t.Fatalf("per provider %+v", p)
			}
			ms, _, err := r.Messages(ctx, f.org, f.id, campaigns.MessageQuery{AfterIndex: -1, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 2 {
				t.Fatalf("%d messages", len(ms))
			}
			d, u := ms[0], ms[1]
			if d.Status != "DELIVERED" || d.DeliveredAt == nil || !d.DeliveredAt.Equal(f.at.Add(time.Minute)) || d.Error != nil ||
				d.SentAt == nil || d.Cost != 500 || d.Receipt == nil || d.Receipt.Stat != "DELIVRD" {
				t.Fatalf("delivered message %+v", d)
			}
			if u.Status != "UNDELIVERED" || u.DeliveredAt != nil || u.Error == nil || u.Error.Code != "RECEIPT_UNDELIVERED" ||
				u.Receipt == nil || u.Receipt.Err != "001" || u.Currency != "AOA" {
				t.Fatalf("undelivered message %+v (error %+v)", u, u.Error)
			}
			only, _, err := r.Messages(ctx, f.org, f.id, campaigns.MessageQuery{AfterIndex: -1, Limit: 10, Statuses: []string{"UNDELIVERED"}})
			if err != nil || len(only) != 1 || only[0].Index != 1 {
				t.Fatalf("status filter UNDELIVERED: %+v %v", only, err)
			}
		})
	}
}

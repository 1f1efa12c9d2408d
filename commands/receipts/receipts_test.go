package receipts

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"ziett.co/campaigns/domain/events"
)

type harness struct {
	t      *testing.T
	camp   uuid.UUID
	org    uuid.UUID
	offset int64
	at     time.Time
}

const receiptsLog = "receipts"

func (h *harness) raw(idx, part, parts int, stat string) *events.Message {
	h.t.Helper()
	h.at = h.at.Add(time.Second)
	m := events.OfReceipt(events.Receipt{Provider: "unitel", Ref: uuid.NewString()[:10], MessageID: events.MessageID(h.camp, idx),
		CampaignID: h.camp, OrgID: h.org, Index: idx, Part: part, Parts: parts, Stat: stat, Err: "000",
		Done: h.at.Truncate(time.Minute), ReceivedAt: h.at})
	if err := m.Receipt.Validate(); err != nil {
		h.t.Fatal(err)
	}
	m.At = events.Position{Log: receiptsLog, Offset: h.offset, Time: h.at}
	h.offset++
	return &m
}

func decoded(t *testing.T, msgs []events.Message) []events.MessageReceipt {
	t.Helper()
	var out []events.MessageReceipt
	for _, o := range msgs {
		e := o.Event
		var m events.MessageReceipt
		if err := e.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if (e.Type == events.MessageDelivered) != (m.Status == events.ReceiptDelivered) {
			t.Fatalf("event %s carries status %s", e.Type, m.Status)
		}
		if e.ID != events.DerivedID(m.MessageID, e.Type, 0) || o.Stream != events.MessageStream {
			t.Fatalf("event %s of message %s on %s: not derived from the message", e.ID, m.MessageID, o.Stream)
		}
		out = append(out, m)
	}
	return out
}

func handle(t *testing.T, d *Decider, in ...*events.Message) []events.MessageReceipt {
	t.Helper()
	msgs := make([]events.Message, len(in))
	for i, m := range in {
		msgs[i] = *m
	}
	out, err := d.Handle(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	return decoded(t, out)
}

func TestOneEventPerMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stats  [][]string // per message, its parts' stats in arrival order
		status []string
		stat   []string
	}{
		{"single part delivered", [][]string{{"DELIVRD"}}, []string{"DELIVERED"}, []string{"DELIVRD"}},
		{"single part undeliverable", [][]string{{"UNDELIV"}}, []string{"UNDELIVERED"}, []string{"UNDELIV"}},
		{"expired kept apart", [][]string{{"EXPIRED"}}, []string{"EXPIRED"}, []string{"EXPIRED"}},
		{"rejected kept apart", [][]string{{"REJECTD"}}, []string{"REJECTED"}, []string{"REJECTD"}},
		{"unknown stats are undelivered", [][]string{{"DELETED"}, {"UNKNOWN"}}, []string{"UNDELIVERED", "UNDELIVERED"}, []string{"DELETED", "UNKNOWN"}},
		{"every part delivered", [][]string{{"DELIVRD", "DELIVRD", "DELIVRD"}}, []string{"DELIVERED"}, []string{"DELIVRD"}},
		{"one undelivered part decides", [][]string{{"DELIVRD", "UNDELIV", "DELIVRD"}}, []string{"UNDELIVERED"}, []string{"UNDELIV"}},
		{"rejected outweighs undelivered and expired", [][]string{{"EXPIRED", "REJECTD", "UNDELIV"}}, []string{"REJECTED"}, []string{"REJECTD"}},
		{"undelivered outweighs expired", [][]string{{"EXPIRED", "UNDELIV"}}, []string{"UNDELIVERED"}, []string{"UNDELIV"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, camp: uuid.Must(uuid.NewV7()), org: uuid.New(), at: time.Now()}
			d := NewDecider(Config{Log: slog.Default()})
			var got []events.MessageReceipt
			var all []*events.Message
			for i, parts := range tc.stats {
				for p, st := range parts {
					r := h.raw(i, p, len(parts), st)
					all = append(all, r)
					got = append(got, handle(t, d, r)...)
					// The same receipt delivered again changes nothing.
					again := *r
					again.At.Offset = h.offset
					h.offset++
					all = append(all, &again)
					got = append(got, handle(t, d, &again)...)
				}
			}
			if len(got) != len(tc.stats) {
				t.Fatalf("%d events for %d messages", len(got), len(tc.stats))
			}
			for i, m := range got {
				if m.Status != tc.status[i] || m.Stat != tc.stat[i] || m.Parts != len(tc.stats[i]) || len(m.ProviderRefs) != m.Parts {
					t.Fatalf("message %d: %+v; want status %s stat %s", i, m, tc.status[i], tc.stat[i])
				}
			}
			// A new owner that folds the partition, or restores its snapshot,
			// emits nothing for any of it.
			fresh := NewDecider(Config{Log: slog.Default()})
			for _, r := range all {
				fresh.Fold(*r)
			}
			if ev := handle(t, fresh, all...); len(ev) != 0 {
				t.Fatalf("after a fold, handling the receipts again emitted %d events", len(ev))
			}
			snap, err := d.Snapshot(receiptsLog, 0)
			if err != nil {
				t.Fatal(err)
			}
			restored := NewDecider(Config{Log: slog.Default()})
			if err := restored.Restore(receiptsLog, 0, snap); err != nil {
				t.Fatal(err)
			}
			if ev := handle(t, restored, all...); len(ev) != 0 {
				t.Fatalf("after a restore, handling the receipts again emitted %d events", len(ev))
			}
		})
	}
}

// A multi-part message whose parts' receipts straddle a snapshot is
// decided once, by the owner that restored the snapshot.
func TestPartsAcrossASnapshot(t *testing.T) {
	h := &harness{t: t, camp: uuid.Must(uuid.NewV7()), org: uuid.New(), at: time.Now()}
	d := NewDecider(Config{Log: slog.Default()})
	if ev := handle(t, d, h.raw(0, 0, 2, "DELIVRD")); len(ev) != 0 {
		t.Fatalf("decided on one part of two: %+v", ev)
	}
	snap, err := d.Snapshot(receiptsLog, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := NewDecider(Config{Log: slog.Default()})
	if err := n.Restore(receiptsLog, 0, snap); err != nil {
		t.Fatal(err)
	}
	ev := handle(t, n, h.raw(0, 1, 2, "DELIVRD"))
	if len(ev) != 1 || ev[0].Status != "DELIVERED" || ev[0].Parts != 2 {
		t.Fatalf("second part after a restore: %+v", ev)
	}
}

package smsprovider

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/commands/dispatch"
)

func TestSimulatedIsIdempotentAndAnswersLookups(t *testing.T) {
	ctx := context.Background()
	s := NewSimulated(Config{Name: "p"})
	m := dispatch.Message{ID: uuid.New(), To: "+244923456789"}
	if st, err := s.Lookup(ctx, m.ID); err != nil || st.State != dispatch.Unknown {
		t.Fatalf("before any call: %+v %v", st, err)
	}
	first, err := s.Send(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Send(ctx, m)
	if err != nil || again.ProviderRef != first.ProviderRef {
		t.Fatalf("second call: %+v %v, want the first reference %s", again, err, first.ProviderRef)
	}
	if s.Accepted() != 1 || s.AcceptedCalls()[m.ID] != 2 {
		t.Fatalf("accepted %d messages, %d calls: the duplicate call must show", s.Accepted(), s.AcceptedCalls()[m.ID])
	}
	if st, _ := s.Lookup(ctx, m.ID); st.State != dispatch.Accepted || st.ProviderRef != first.ProviderRef {
		t.Fatalf("lookup after acceptance: %+v", st)
	}

	r := NewSimulated(Config{Name: "p", PermanentFailure: 1})
	_, err = r.Send(ctx, m)
	var pe *dispatch.Error
	if !errors.As(err, &pe) || !pe.Permanent {
		t.Fatalf("permanent failure: %v", err)
	}
	if st, _ := r.Lookup(ctx, m.ID); st.State != dispatch.Rejected || !r.Rejected(m.ID) {
		t.Fatalf("lookup after rejection: %+v", st)
	}
}

func TestSimulatedThrottles(t *testing.T) {
	s := NewSimulated(Config{Name: "p", RatePerSecond: 10})
	refused := 0
	for range 20 {
		if _, err := s.Send(context.Background(), dispatch.Message{ID: uuid.New()}); err != nil {
			refused++
		}
	}
	if refused < 15 || s.Throttled() != int64(refused) {
		t.Fatalf("%d of 20 instant calls refused (%d counted) at 10/s with a burst of 1", refused, s.Throttled())
	}
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Now()
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	for _, c := range []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0, 100, 999), 3},
		{at(0, 100, 1000), 2},
		{at(0, 500, 1200, 1300, 1400), 4}, // 500 to 1400
	} {
		if got := MaxInWindow(c.times, time.Second); got != c.want {
			t.Errorf("MaxInWindow(%v) = %d, want %d", c.times, got, c.want)
		}
	}
}

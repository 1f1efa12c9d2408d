package dispatch

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// maxInWindow is the largest number of times within any window of length w.
func maxInWindow(times []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestBudgetRateStaysWithinTheLimitInEveryWindow(t *testing.T) {
	for _, c := range []struct {
		name         string
		limit        float64
		owned, total int
	}{
		{"whole limit", 500, 16, 16},
		{"half the partitions", 500, 8, 16},
		{"one partition of sixteen", 300, 1, 16},
		{"a tiny limit", 2, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, burst := budgetRate(c.limit, c.owned, c.total)
			share := c.limit * float64(c.owned) / float64(c.total)
			// Below a few calls per second the bound cannot be kept with
			// a positive rate; half the share is the rate then.
			if r <= 0 || (share > 4 && r+float64(burst)+1 > share) || (share <= 4 && r > share/2) {
				t.Fatalf("rate %v + burst %d + the token in hand exceeds the share %v", r, burst, share)
			}
			if r < share/2 {
				t.Fatalf("rate %v wastes more than half the share %v", r, share)
			}
		})
	}
	if r, _ := budgetRate(500, 0, 16); r != 0 {
		t.Fatalf("no partitions, rate %v, want 0", r)
	}
}

func TestBudgetWithoutShareRefuses(t *testing.T) {
	b := NewBudget(100)
	if err := b.Wait(t.Context(), false); err != errNoShare {
		t.Fatalf("Wait without partitions: %v, want errNoShare", err)
	}
	if err := NewBudget(0).Wait(t.Context(), false); err != nil {
		t.Fatalf("an unlimited budget refused: %v", err)
	}
}

// Campaign calls wait for every token; a priority call that starts waiting
// gets one of the next tokens, however many campaign calls wait.
func TestBudgetServesPriorityFirst(t *testing.T) {
	b := NewBudget(200)
	b.Share("bulk", 1, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go b.Run(ctx)

	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	var stop atomic.Bool
	for range 16 {
		wg.Go(func() {
			for !stop.Load() {
				if b.Wait(ctx, false) != nil {
					return
				}
				mu.Lock()
				order = append(order, "bulk")
				mu.Unlock()
			}
		})
	}
	for round := range 20 {
		// Let campaign calls take a few tokens between priority calls.
		for {
			mu.Lock()
			n := len(order)
			mu.Unlock()
			if n >= 5*(round+1)+round {
				break
			}
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		order = append(order, "wait")
		mu.Unlock()
		if err := b.Wait(ctx, true); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		order = append(order, "priority")
		mu.Unlock()
	}
	stop.Store(true)
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i, s := range order {
		if s != "wait" {
			continue
		}
		passed := 0
		for _, next := range order[i+1:] {
			if next == "priority" {
				break
			}
			passed++
		}
		// One token may be on its way to a campaign call when the
		// priority call starts waiting, and a grant is recorded a little
		// after it happens; without priority, the sixteen campaign calls
		// waiting would all pass first.
		if passed > 3 {
			t.Fatalf("%d campaign calls took a token while a priority call waited (at %d of %v)", passed, i, order)
		}
	}
}

// Under contention from both kinds, the budget's grants never exceed its
// limit in any one-second window. The run lasts until one and a half
// seconds' worth of grants were made, however long the machine takes.
func TestBudgetGrantsHoldTheLimit(t *testing.T) {
	const limit = 300
	b := NewBudget(limit)
	b.Share("bulk", 4, 8)
	b.Share("bulk/priority", 4, 8)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	go b.Run(ctx)
	var mu sync.Mutex
	var grants []time.Time
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			for b.Wait(ctx, i%4 == 0) == nil {
				mu.Lock()
				grants = append(grants, time.Now())
				enough := len(grants) >= limit*3/2
				mu.Unlock()
				if enough {
					cancel()
				}
			}
		})
	}
	wg.Wait()
	if len(grants) < limit*3/2 {
		t.Fatalf("only %d grants before the deadline", len(grants))
	}
	if worst := maxInWindow(grants, time.Second); worst > limit {
		t.Fatalf("%d grants within one second, limit %d", worst, limit)
	}
}

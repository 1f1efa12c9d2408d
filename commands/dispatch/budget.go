package dispatch

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/time/rate"
)

// Budget is one provider's throughput limit as this process may spend it,
// shared by the provider's two dispatcher loops: the campaign queue's and
// the priority queue's (single messages). Every provider call takes a
// token; a token goes to a waiting priority call before any waiting
// campaign call, so campaign traffic yields the budget to single messages
// without the two ever adding up to more than the limit.
//
// Each loop is a member of its own consumer group and owns a share of its
// queue's partitions. The process spends limit × (partitions it owns of
// both queues) / (partitions of both queues): members of a group own
// disjoint partitions, so the processes' rates add up to at most the limit
// (see docs/send-message.md).
type Budget struct {
	// Limit is the provider's limit in calls per second across all its
	// dispatchers; 0 means unlimited.
	Limit float64

	mu      sync.Mutex
	owned   map[string]int
	total   map[string]int
	rate    float64
	lim     *rate.Limiter
	changed chan struct{} // closed when rate changes

	high, low chan struct{}
}

// NewBudget returns the budget of a provider whose limit is limit calls
// per second (0: unlimited).
func NewBudget(limit float64) *Budget {
	return &Budget{Limit: limit, owned: map[string]int{}, total: map[string]int{},
		changed: make(chan struct{}), high: make(chan struct{}), low: make(chan struct{})}
}

// Run hands out tokens until ctx is done: each token of the rate limiter
// goes to a waiting priority call if there is one, else to whichever call
// waits. With no limit it returns at once (Wait then never blocks).
func (b *Budget) Run(ctx context.Context) {
	if b.Limit <= 0 {
		return
	}
	for {
		b.mu.Lock()
		lim, r, changed := b.lim, b.rate, b.changed
		b.mu.Unlock()
		if lim == nil || r <= 0 {
			// No partitions owned: nothing may be sent until some are.
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		if err := lim.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		// A priority waiter takes the token first; only if none is
		// waiting at this moment can a campaign call have it.
		select {
		case b.high <- struct{}{}:
			continue
		default:
		}
		select {
		case b.high <- struct{}{}:
		case b.low <- struct{}{}:
		case <-ctx.Done():
			return
		}
	}
}

// Share records that the loop named loop owns owned of its queue's total
// partitions, and sets the rate to the process's share of the limit.
func (b *Budget) Share(loop string, owned, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.owned[loop], b.total[loop] = owned, total
	if b.Limit <= 0 {
		return
	}
	o, t := 0, 0
	for k := range b.total {
		o, t = o+b.owned[k], t+b.total[k]
	}
	r, burst := budgetRate(b.Limit, o, t)
	if r == b.rate && b.lim != nil {
		return
	}
	b.rate = r
	if b.lim == nil {
		b.lim = rate.NewLimiter(rate.Limit(r), burst)
	} else {
		b.lim.SetLimit(rate.Limit(r))
		b.lim.SetBurst(burst)
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// budgetRate is the token bucket for a share owned/total of limit. A
// bucket of rate r and burst b lets through at most r + b calls in any
// one-second window, and Run holds one more token while it finds a taker,
// so the rate is the share less the burst and that token: the calls of
// all processes stay within the limit in every window, not only on
// average. The burst is a hundredth of a second's worth (at least one
// call), which costs one to two percent of the throughput. A share of a
// few calls per second cannot keep that bound with a positive rate; it
// gets half the share.
func budgetRate(limit float64, owned, total int) (r float64, burst int) {
	if total <= 0 || owned <= 0 {
		return 0, 1
	}
	share := limit * float64(owned) / float64(total)
	burst = max(1, int(share/100))
	if share <= 2*float64(burst+1) {
		return share / 2, 1
	}
	return share - float64(burst+1), burst
}

// Rate is the process's current rate in calls per second (0 with no
// partitions or no limit).
func (b *Budget) Rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate
}

// errNoShare means a call was asked for while the process owns none of the
// provider's partitions.
var errNoShare = errors.New("dispatch: no partitions assigned, no throughput share")

// Wait takes one token, ahead of every campaign call when priority is set.
func (b *Budget) Wait(ctx context.Context, priority bool) error {
	if b.Limit <= 0 {
		return nil
	}
	b.mu.Lock()
	ok := b.rate > 0
	b.mu.Unlock()
	if !ok {
		return errNoShare
	}
	ch := b.low
	if priority {
		ch = b.high
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MaxBatch is how many campaign deliveries one transaction may take: about
// seconds of work at the current rate (0 when unlimited).
func (b *Budget) MaxBatch(seconds float64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit <= 0 {
		return 0
	}
	return max(1, int(b.rate*seconds))
}

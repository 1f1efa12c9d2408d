package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
)

// Controls tells which campaigns their customers paused or cancelled. It
// answers from the campaign read model, which the control endpoints wait
// for before they acknowledge a command.
type Controls interface {
	// Stopped returns the status of each of the campaigns that is PAUSED or
	// CANCELLED; campaigns running normally are absent.
	Stopped(ctx context.Context, campaigns []uuid.UUID) (map[uuid.UUID]campaign.Status, error)
}

// NoControls is for dispatchers whose campaigns cannot be paused or
// cancelled (benchmarks of the provider path alone).
type NoControls struct{}

func (NoControls) Stopped(context.Context, []uuid.UUID) (map[uuid.UUID]campaign.Status, error) {
	return nil, nil
}

// DefaultControlTTL bounds how old a campaign's control state may be when a
// message of it is handed over. After a pause or cancel is acknowledged, a
// dispatcher hands over at most the messages it checks within this time,
// plus those whose provider call had already started.
const DefaultControlTTL = 200 * time.Millisecond

// gate caches control states per campaign for at most ttl.
type gate struct {
	controls Controls
	ttl      time.Duration
	now      func() time.Time

	mu      sync.Mutex
	entries map[uuid.UUID]gateEntry
}

type gateEntry struct {
	status campaign.Status // "" when running
	at     time.Time
}

func newGate(c Controls, ttl time.Duration) *gate {
	return &gate{controls: c, ttl: ttl, now: time.Now, entries: map[uuid.UUID]gateEntry{}}
}

// status returns the campaign's control status ("" when it runs), asking
// Controls when the cached one is older than the ttl.
func (g *gate) status(ctx context.Context, c uuid.UUID) (campaign.Status, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if e, ok := g.entries[c]; ok && now.Sub(e.at) < g.ttl {
		return e.status, nil
	}
	st, err := g.controls.Stopped(ctx, []uuid.UUID{c})
	if err != nil {
		return "", err
	}
	if len(g.entries) > 10_000 {
		for id, e := range g.entries {
			if now.Sub(e.at) >= g.ttl {
				delete(g.entries, id)
			}
		}
	}
	g.entries[c] = gateEntry{status: st[c], at: now}
	return st[c], nil
}

// prefetch refreshes, in one question, the stale entries of a batch's
// campaigns, so that a batch asks once however many campaigns it holds.
func (g *gate) prefetch(ctx context.Context, ids []uuid.UUID) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	stale := ids[:0:0]
	for _, id := range ids {
		if e, ok := g.entries[id]; !ok || now.Sub(e.at) >= g.ttl {
			stale = append(stale, id)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	st, err := g.controls.Stopped(ctx, stale)
	if err != nil {
		return err
	}
	for _, id := range stale {
		g.entries[id] = gateEntry{status: st[id], at: now}
	}
	return nil
}

package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Readiness answers /readyz: Kafka and Postgres reachable, and every
// watched projection caught up within a bound.
type Readiness struct {
	Kafka *kgo.Client
	DB    *pgxpool.Pool
	// Lag, when set, measures the projections; MaxProjectionLag bounds
	// them (30s when zero).
	Lag              *LagPoller
	MaxProjectionLag time.Duration
	// Timeout bounds the whole check (2s when zero): a dependency that
	// does not answer in time is not ready.
	Timeout time.Duration
}

// Check runs every check concurrently and returns each one's result, nil
// for a pass.
func (r *Readiness) Check(ctx context.Context) map[string]error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	bound := r.MaxProjectionLag
	if bound <= 0 {
		bound = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	out := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	set := func(name string, err error) {
		mu.Lock()
		out[name] = err
		mu.Unlock()
	}
	wg.Go(func() {
		if err := r.Kafka.Ping(ctx); err != nil {
			set("kafka", fmt.Errorf("unreachable: %w", err))
			return
		}
		set("kafka", nil)
	})
	wg.Go(func() {
		if err := r.DB.Ping(ctx); err != nil {
			set("postgres", fmt.Errorf("unreachable: %w", err))
			return
		}
		set("postgres", nil)
	})
	if r.Lag != nil {
		wg.Go(func() {
			lags, err := r.Lag.ProjectionLag(ctx)
			if err != nil {
				for _, p := range r.Lag.cfg.Projections {
					set("projection."+p.Name, fmt.Errorf("lag unknown: %w", err))
				}
				return
			}
			for name, l := range lags {
				if l > bound {
					set("projection."+name, fmt.Errorf("%.1fs behind the log (bound %s)", l.Seconds(), bound))
				} else {
					set("projection."+name, nil)
				}
			}
		})
	}
	wg.Wait()
	return out
}

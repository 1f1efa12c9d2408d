package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/metrics"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/projections"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
)

// observe starts the lag poller and, in a process that runs no API, an
// HTTP listener for /healthz, /readyz and /metrics on cfg.HTTPAddr, so that
// every process of the production shape can be scraped and probed. It
// returns the operational parts the API serves.
func (s *Stack) observe(ctx context.Context, cfg Config, api bool) (httpapi.Ops, error) {
	m := s.Metrics
	groups := []string{ProcessorGroup, CompletionGroup, ReceiptsGroup}
	for _, p := range s.Rules.Routes.Providers() {
		groups = append(groups, DispatcherGroup(p), PriorityDispatcherGroup(p))
	}
	m.Providers(s.Rules.Routes.Providers())
	var watched []metrics.Projection
	for _, p := range []projections.Projection{campaigns.Projection{}, ledger.Projection{}} {
		watched = append(watched, metrics.Projection{Name: p.Name(), Group: projector.Group(p.Name()), Topics: kafkalog.TopicsOf(p.Streams())})
	}
	lag := m.Lag(metrics.LagConfig{
		Kafka: s.Kafka, Client: cfg.kafka(), DB: s.DB, Groups: groups, Projections: watched, Log: cfg.Log,
	})
	s.run(cfg.Log, "lag poller", lag.Run, ctx)
	ready := &metrics.Readiness{Kafka: s.Kafka, DB: s.DB, Lag: lag}
	names := make([]string, len(watched))
	for i, p := range watched {
		names[i] = p.Name
	}
	countParked := func(ctx context.Context) (map[string]int64, error) { return projector.ParkedCounts(ctx, s.DB) }
	m.WatchParked(names, countParked)
	ops := httpapi.Ops{Metrics: m.Handler(), Ready: ready.Check, Instrument: m.Middleware,
		Details: func(ctx context.Context) map[string]any {
			// A parked event is kept aside and the projector goes on, so
			// it is reported here without making the process unready.
			counts, err := countParked(ctx)
			if err != nil {
				return map[string]any{"parked_events": "unknown: " + err.Error()}
			}
			per := map[string]int64{}
			for _, n := range names {
				per[n] = counts[n]
			}
			return map[string]any{"parked_events": per}
		}}
	if api || cfg.HTTPAddr == "" {
		return ops, nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return ops, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	s.Addr = ln.Addr().String()
	s.srv = &http.Server{Handler: httpapi.OpsHandler(ops, cfg.Log), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("ops http: %w", err))
		}
	}()
	return ops, nil
}

// runStage runs a stage's loop, counting what it commits under the stage's
// name.
func (s *Stack) runStage(ctx context.Context, log *slog.Logger, name string, c kafkalog.TxLoopConfig) error {
	c.Committed = s.Metrics.Stage(name)
	l, err := kafkalog.NewTxLoop(c)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.run(log, name, l.Run, ctx)
	return nil
}

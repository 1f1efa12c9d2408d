package service

import (
	"context"
	"fmt"
	"os"
	"time"

	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/commands/dispatch"
	"ziett.co/campaigns/domain/plan"
)

// refsAge is how long provider_refs rows are kept: receipts come within a
// message's validity period (days at most), and the dispatcher's lookups
// within a delivery's life on its queue (7 days).
const refsAge = 8 * 24 * time.Hour

// provider builds what a provider's dispatcher sends through: its SMPP
// link (whose client then runs with the stack), its simulated link, or,
// for a provider without a link, the simulated provider of cfg.Provider.
func (s *Stack) provider(ctx context.Context, cfg Config, rules plan.Rules, link smsprovider.LinkConfig, name string) (dispatch.Provider, error) {
	if link.SMPP == nil {
		pc := cfg.Provider
		if sl := link.Simulated; sl != nil {
			pc = smsprovider.Config{Latency: time.Duration(sl.Latency), TransientFailure: sl.TransientFailure,
				PermanentFailure: sl.PermanentFailure, RecordTimes: cfg.Provider.RecordTimes, JournalDir: cfg.Provider.JournalDir}
		}
		pc.Name = name
		if pc.RatePerSecond == 0 {
			// The simulated operator enforces the contract the rules
			// say the dispatchers keep to.
			pc.RatePerSecond = rules.Throughput[name]
		}
		p, err := smsprovider.NewJournaled(pc)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", name, err)
		}
		s.Providers[name] = p
		return p, nil
	}
	sc := link.SMPP
	pw := sc.Password
	if sc.PasswordEnv != "" {
		if pw = os.Getenv(sc.PasswordEnv); pw == "" {
			return nil, fmt.Errorf("provider %s: the environment variable %s (smpp.password_env) is not set", name, sc.PasswordEnv)
		}
	}
	long, err := smpp.ParseLongMode(sc.LongMessages)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", name, err)
	}
	mode := smpp.Transceiver
	if sc.BindMode == smsprovider.BindTransmitterReceiver {
		mode = smpp.TxRx
	}
	byteOf := func(v *int) *byte {
		if v == nil {
			return nil
		}
		b := byte(*v)
		return &b
	}
	m, err := smpp.NewMetrics(s.Metrics.Registry, name)
	if err != nil {
		return nil, err
	}
	l := &smsprovider.Link{Name: name, DB: s.DB, Producer: s.Kafka, Log: cfg.Log.With("provider", name), Unmatched: m.ReceiptUnmatched}
	cl, err := smpp.NewClient(smpp.ClientConfig{Name: name, Addr: sc.Addr, SystemID: sc.SystemID, Password: pw,
		SystemType: sc.SystemType, Binds: sc.Binds, Mode: mode, Window: sc.Window, EnquireLink: time.Duration(sc.EnquireLink),
		Long: long, TLS: sc.TLS, SourceTON: byteOf(sc.SourceTON), SourceNPI: byteOf(sc.SourceNPI),
		OnDeliver: l.OnDeliver, Log: cfg.Log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", name, err)
	}
	l.Client = cl
	s.Links[name] = l
	s.run(cfg.Log, "smpp."+name, cl.Run, ctx)
	s.run(cfg.Log, "smpp."+name+".prune", func(ctx context.Context) error {
		for {
			if n, err := l.Prune(ctx, refsAge); err != nil && ctx.Err() == nil {
				cfg.Log.Warn("pruning provider refs failed", "provider", name, "err", err)
			} else if n > 0 {
				cfg.Log.Info("pruned provider refs", "provider", name, "rows", n)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Hour):
			}
		}
	}, ctx)
	return l, nil
}

package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
)

// targetSMPP is the end-to-end target over SMPP with receipts, messages/s.
const targetSMPP = 25_000

// smppResult is figure (9): end to end over SMPP to the embedded SMSC,
// receipts on, until every campaign is COMPLETED and every receipt applied.
type smppResult struct {
	messages, campaigns int
	binds, window       int
	providers           int
	total, completed    time.Duration
	cpu                 cpuUse
	submits, rttSum     float64
	smsc                smpp.SMSCStats
	unmatched           float64
	stages              []stageCount
	profileTop          string
}

// smppLinks links every routed provider to the SMSC at addr.
func smppLinks(cfg *service.Config, addr string, binds, window int) {
	cfg.Links = map[string]smsprovider.LinkConfig{}
	for _, p := range cfg.Rules.Routes.Providers() {
		cfg.Links[p] = smsprovider.LinkConfig{SMPP: &smsprovider.SMPPLink{Addr: addr, SystemID: p, Password: "bench",
			BindMode: smsprovider.BindTransceiver, Binds: binds, Window: window,
			EnquireLink: smsprovider.Duration(30 * time.Second), LongMessages: "udh"}}
	}
}

// measureSMPP is figure (9): the same campaigns as (2), but every provider
// is an SMPP link over TCP to the embedded SMSC simulator, which sends a
// delivery receipt for every part at once; timed from the first POST until
// every campaign is COMPLETED and every message shows its receipt
// (DELIVERED) in the read model.
func (b *bench) measureSMPP(ctx context.Context) error {
	if b.opts.smppMessages == 0 {
		return nil
	}
	smsc, err := smpp.NewSMSC(smpp.SMSCConfig{ReceiptDelay: 0, Log: b.log})
	if err != nil {
		return err
	}
	if err := smsc.Start(); err != nil {
		return err
	}
	defer smsc.Close()
	return b.measureSMPPInto(ctx, smsc)
}

// measureSMPPInto runs figure (6) against smsc.
func (b *bench) measureSMPPInto(ctx context.Context, smsc *smpp.SMSC) error {
	smscBefore := smsc.Stats()
	const submitConns = 4
	e, err := b.startEnvWith(ctx, "bench_smpp", service.All, submitConns, func(cfg *service.Config) {
		smppLinks(cfg, smsc.Addr(), b.opts.smppBinds, b.opts.smppWindow)
	})
	if err != nil {
		return fmt.Errorf("bench: start service over smpp: %w", err)
	}
	defer e.close()
	n := b.opts.smppMessages / benchRecipients
	gen := newRecipientGen(3)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = gen.body(e.demo.RemitterID.String(), fmt.Sprintf("Bench SMPP %d", i))
	}
	if b.opts.smppProfile != "" {
		stop, err := startCPUProfile(b.opts.smppProfile)
		if err != nil {
			return err
		}
		defer func() {
			stop()
			b.report.smpp.profileTop = profileTop(b.opts.smppProfile)
		}()
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	b.progress("over smpp: %d campaigns of %d recipients, %d binds × window %d per provider, receipts at once", n, benchRecipients,
		b.opts.smppBinds, b.opts.smppWindow)
	before := stageCounts(e.st)
	cpuBefore := readCPU()
	start := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var submitErr error
	var wg sync.WaitGroup
	for range submitConns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if _, err := e.post(ctx, bodies[i]); err != nil {
					mu.Lock()
					submitErr = cmp.Or(submitErr, err)
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	want := n * benchRecipients
	var completedAt time.Duration
	lastReport := time.Now()
	for {
		var completed, failed, delivered int
		err := e.st.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'COMPLETED'), count(*) FILTER (WHERE status = 'FAILED') FROM campaigns`).
			Scan(&completed, &failed)
		if err == nil {
			err = e.st.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE status = 'DELIVERED'`).Scan(&delivered)
		}
		if err != nil {
			mu.Lock()
			err = cmp.Or(submitErr, err)
			mu.Unlock()
			return fmt.Errorf("bench: over smpp: %w", err)
		}
		if failed > 0 {
			return fmt.Errorf("bench: over smpp: %d campaigns FAILED", failed)
		}
		if completed == n && completedAt == 0 {
			completedAt = time.Since(start)
		}
		if completed == n && delivered == want {
			break
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			b.progress("  %5.1fs: %d/%d campaigns posted, %d COMPLETED, %d/%d DELIVERED", time.Since(start).Seconds(),
				min(int(next.Load()), n), n, completed, delivered, want)
		}
		select {
		case <-ctx.Done():
			mu.Lock()
			err := cmp.Or(submitErr, ctx.Err())
			mu.Unlock()
			return fmt.Errorf("bench: over smpp: %d of %d campaigns COMPLETED, %d of %d DELIVERED: %w", completed, n, delivered, want, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	r := &b.report.smpp
	r.total = time.Since(start)
	r.cpu = readCPU().since(cpuBefore)
	wg.Wait()
	r.messages, r.campaigns, r.completed = want, n, completedAt
	r.binds, r.window, r.providers = b.opts.smppBinds, b.opts.smppWindow, len(e.st.Links)
	st := smsc.Stats()
	r.smsc = smpp.SMSCStats{Submits: st.Submits - smscBefore.Submits, Duplicates: st.Duplicates - smscBefore.Duplicates,
		ReceiptsSent: st.ReceiptsSent - smscBefore.ReceiptsSent, ReceiptsAcked: st.ReceiptsAcked - smscBefore.ReceiptsAcked}
	after := stageCounts(e.st)
	for name, a := range after {
		c := stageCount{name: name, records: a.records - before[name].records, batches: a.batches - before[name].batches}
		if c.records > 0 {
			r.stages = append(r.stages, c)
		}
	}
	slices.SortFunc(r.stages, func(a, b stageCount) int { return strings.Compare(a.name, b.name) })
	if mfs, err := e.st.Metrics.Registry.Gather(); err == nil {
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "ziett_smpp_submit_round_trip_seconds":
					r.submits += float64(m.GetHistogram().GetSampleCount())
					r.rttSum += m.GetHistogram().GetSampleSum()
				case "ziett_smpp_receipts_unmatched_total":
					r.unmatched += m.GetCounter().GetValue()
				}
			}
		}
	}
	b.progress("over smpp: %d messages in %s: %.0f messages/s", want, fmtDur(r.total), float64(want)/r.total.Seconds())
	return nil
}

func (b *bench) printSMPP(w io.Writer) {
	r := &b.report.smpp
	if r.messages == 0 {
		return
	}
	rate := float64(r.messages) / r.total.Seconds()
	fmt.Fprintf(w, "(9) end to end over SMPP v3.4 on TCP to the embedded SMSC, a delivery receipt for every message:\n")
	fmt.Fprintf(w, "    %d messages in %d campaigns in %s = %.0f messages/s (every campaign COMPLETED at %s, every receipt applied at %s)\n",
		r.messages, r.campaigns, fmtDur(r.total), rate, fmtDur(r.completed), fmtDur(r.total))
	fmt.Fprintf(w, "    target ≥ %d messages/s: %s\n", targetSMPP, map[bool]string{true: "met", false: "NOT met"}[rate >= targetSMPP])
	if r.submits > 0 {
		binds := float64(r.providers * r.binds)
		fmt.Fprintf(w, "    %d provider links × %d binds, window %d: %.0f submit_sm, mean round trip %s, %.0f round trips/s per bind\n",
			r.providers, r.binds, r.window, r.submits, fmtDur(time.Duration(r.rttSum/r.submits*float64(time.Second))), r.submits/binds/r.total.Seconds())
	}
	fmt.Fprintf(w, "    SMSC: %d parts accepted, %d duplicates, %d receipts sent, %d acknowledged; unmatched receipts %.0f\n",
		r.smsc.Submits, r.smsc.Duplicates, r.smsc.ReceiptsSent, r.smsc.ReceiptsAcked, r.unmatched)
	if r.cpu.machineAll > 0 {
		secs := r.total.Seconds()
		fmt.Fprintf(w, "    CPU meanwhile: machine %.0f%% busy; this process (service, SMSC, load generator) %.2f CPUs, the rest (PostgreSQL, others) %.2f CPUs\n",
			100*float64(r.cpu.machineBusy)/float64(r.cpu.machineAll), r.cpu.self.Seconds()/secs, max(r.cpu.machineBusy-r.cpu.self, 0).Seconds()/secs)
	}
	if len(r.stages) > 0 {
		fmt.Fprintf(w, "      %-24s %10s %9s %11s %10s\n", "stage", "records", "batches", "per batch", "records/s")
		for _, c := range r.stages {
			fmt.Fprintf(w, "      %-24s %10.0f %9.0f %11.1f %10.0f\n", c.name, c.records, c.batches, c.records/max(c.batches, 1), c.records/r.total.Seconds())
		}
	}
	if r.profileTop != "" {
		fmt.Fprintf(w, "    CPU profile of this run (%s)\n%s", b.opts.smppProfile, r.profileTop)
	}
	fmt.Fprintln(w)
}

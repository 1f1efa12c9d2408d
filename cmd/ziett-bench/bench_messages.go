package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"

	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/apikey"
)

// Send Message targets (BENCHMARKS.md, figures 6 to 8).
const (
	targetMsgIdleP50    = 15 * time.Millisecond  // 202 → provider's acknowledgement, idle
	targetMsgIdleP99    = 50 * time.Millisecond  // idem
	targetMsgBacklogP99 = 100 * time.Millisecond // idem, while a campaign backlog drains
	benchMsgProvider    = "unitel"               // where every message of figures 6 and 7 goes
)

// msgOpts are the knobs of the Send Message figures.
type msgOpts struct {
	idle          int           // messages of figure (6)
	idleRate      float64       // their pace, per second
	backlog       int           // campaign messages queued in figure (7)
	limit         float64       // the provider's max_per_second in figure (7)
	singleRate    float64       // single messages per second in figure (7)
	singleFor     time.Duration // how long figure (7) sends them
	postConns     int           // connections of figure (8)
	skipMessages  bool
	only          bool
	cpuprofile    string // profiles figures (6) and (7)
	backlogReport backlogResult
}

type backlogResult struct {
	lat                   latencies
	queuedBefore, queued  int // campaign messages waiting when singles began and ended
	maxPerSecond          int // most provider calls in any one-second window while singles were sent
	maxPerSecondWhole     int // the same over the whole run
	throttled             int64
	campaignCallsMeanwhle int
}

type msgReport struct {
	profileTop string
	// sched is the scheduler latency (p50, p99, p99.9) during figures 6
	// and 7, and the load average after each.
	schedIdle, schedBacklog [3]time.Duration
	loadIdle, loadBacklog   string
	idle                    latencies
	backlog                 backlogResult
	posts                   postLevel
}

// ackClock records when the provider acknowledged each message.
type ackClock struct{ m sync.Map }

func (a *ackClock) accept(id uuid.UUID) { a.m.Store(id, time.Now()) }

func (a *ackClock) at(id uuid.UUID) (time.Time, bool) {
	v, ok := a.m.Load(id)
	if !ok {
		return time.Time{}, false
	}
	return v.(time.Time), true
}

// startMsgEnv starts every component with instant simulated providers;
// limit, when positive, is benchMsgProvider's max_per_second (the
// simulated operator enforces it too), the others have none.
func (b *bench) startMsgEnv(ctx context.Context, name string, limit float64, clock *ackClock, conns int) (*benchEnv, error) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, err
	}
	if err := b.pg.CreateDatabase(ctx, name); err != nil {
		kc.Close()
		return nil, err
	}
	rules, _, err := service.Config{}.LoadRules()
	if err != nil {
		kc.Close()
		return nil, err
	}
	rules.Throughput = nil
	if limit > 0 {
		rules.Throughput = map[string]float64{benchMsgProvider: limit}
	}
	st, err := service.Start(ctx, service.Config{
		Brokers: kc.ListenAddrs(), DatabaseURL: b.pg.URL(name), HTTPAddr: "127.0.0.1:0",
		Partitions: int32(b.opts.partitions), Rules: &rules, Log: b.log,
		Provider: smsprovider.Config{RecordTimes: limit > 0, OnAccept: clock.accept},
	})
	if err != nil {
		kc.Close()
		return nil, err
	}
	e := &benchEnv{kafka: kc, st: st, base: "http://" + st.Addr}
	if err := e.demoForMessages(ctx); err != nil {
		e.close()
		return nil, err
	}
	e.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
	}}
	return e, nil
}

// demoForMessages creates the demo organisation with a key that may send
// both campaigns and messages, without the per-key limits in the way.
func (e *benchEnv) demoForMessages(ctx context.Context) error {
	var err error
	e.demo, err = e.st.Admin.CreateDemo(ctx, benchCredits, []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead, apikey.ScopeMessageSend})
	if err == nil {
		_, err = e.st.Admin.SetKeyRate(ctx, e.demo.KeyID, admin.MaxRatePerMinute)
	}
	if err == nil {
		_, err = e.st.Admin.SetKeyMessageRate(ctx, e.demo.KeyID, admin.MaxMessageRatePerSecond)
	}
	return err
}

func (e *benchEnv) messageBody(recipient string, i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"remitter_id": e.demo.RemitterID.String(), "channel_type": "SMS", "recipient": recipient,
		"content": fmt.Sprintf("Your verification code is %06d.", i%1_000_000), "reference": fmt.Sprintf("bench-%d", i),
	})
	return b
}

// postMessage sends one message and returns its id.
func (e *benchEnv) postMessage(ctx context.Context, body []byte) (uuid.UUID, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/c/v1/messages", bytes.NewReader(body))
	if err != nil {
		return uuid.Nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-KEY", e.demo.APIKey)
	resp, err := e.http.Do(req)
	if err != nil {
		return uuid.Nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return uuid.Nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return uuid.Nil, fmt.Errorf("POST message: %d %s", resp.StatusCode, rb)
	}
	var out struct {
		MessageID uuid.UUID `json:"message_id"`
	}
	if err := json.Unmarshal(rb, &out); err != nil || out.MessageID == uuid.Nil {
		return uuid.Nil, fmt.Errorf("POST message: unreadable 202 body %q", rb)
	}
	return out.MessageID, nil
}

// paced sends n single messages at rate per second, one connection, and
// returns when each got its 202.
func (e *benchEnv) paced(ctx context.Context, n int, rate float64, series int) (map[uuid.UUID]time.Time, error) {
	accepted := make(map[uuid.UUID]time.Time, n)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for i := range n {
		body := e.messageBody(fmt.Sprintf("+24492%d%06d", series, i%1_000_000), i)
		id, err := e.postMessage(ctx, body)
		if err != nil {
			return nil, err
		}
		accepted[id] = time.Now()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	return accepted, nil
}

// ackLatencies waits until the provider acknowledged every message and
// returns, per message, the time from its 202 to the acknowledgement.
func ackLatencies(ctx context.Context, clock *ackClock, accepted map[uuid.UUID]time.Time) (latencies, error) {
	deadline := time.Now().Add(time.Minute)
	lat := make(latencies, 0, len(accepted))
	for id, at := range accepted {
		for {
			if ack, ok := clock.at(id); ok {
				lat = append(lat, max(0, ack.Sub(at)))
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("message %s was never acknowledged by the provider", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return lat, nil
}

// measureMessages runs figures (6), (7) and (8).
func (b *bench) measureMessages(ctx context.Context) error {
	if b.msg.cpuprofile != "" {
		stop, err := startCPUProfile(b.msg.cpuprofile)
		if err != nil {
			return err
		}
		stopped := false
		defer func() {
			if !stopped {
				stop()
			}
		}()
		if err := b.idleMessages(ctx); err != nil {
			return err
		}
		if err := b.backlogMessages(ctx); err != nil {
			return err
		}
		stop()
		stopped = true
		b.report.msgs.profileTop = profileTop(b.msg.cpuprofile)
		return b.postMessages(ctx)
	}
	if err := b.idleMessages(ctx); err != nil {
		return err
	}
	if err := b.backlogMessages(ctx); err != nil {
		return err
	}
	return b.postMessages(ctx)
}

// idleMessages is figure (6): single messages on an idle service, one at
// a time at a gentle pace, from each 202 to the provider's acknowledgement.
func (b *bench) idleMessages(ctx context.Context) error {
	clock := &ackClock{}
	e, err := b.startMsgEnv(ctx, "bench_msg_idle", 0, clock, 1)
	if err != nil {
		return fmt.Errorf("bench: start service: %w", err)
	}
	defer e.close()
	sb := schedSample()
	defer func() {
		p50, p99, p999 := schedWait(sb, schedSample())
		b.report.msgs.schedIdle = [3]time.Duration{p50, p99, p999}
		b.report.msgs.loadIdle = loadAvg()
	}()
	const warmup = 20
	if _, err := e.paced(ctx, warmup, b.msg.idleRate, 0); err != nil {
		return fmt.Errorf("bench: idle messages: %w", err)
	}
	accepted, err := e.paced(ctx, b.msg.idle, b.msg.idleRate, 1)
	if err != nil {
		return fmt.Errorf("bench: idle messages: %w", err)
	}
	lat, err := ackLatencies(ctx, clock, accepted)
	if err != nil {
		return fmt.Errorf("bench: idle messages: %w", err)
	}
	b.report.msgs.idle = lat
	b.progress("idle single messages: p50 %s, p99 %s over %d", fmtDur(lat.pct(50)), fmtDur(lat.pct(99)), len(lat))
	return nil
}

// backlogMessages is figure (7): campaign messages enough for a backlog of
// at least b.msg.backlog for the whole measurement are queued for one
// provider limited to b.msg.limit per second; once they are queued,
// single messages to the same provider are sent at b.msg.singleRate.
func (b *bench) backlogMessages(ctx context.Context) error {
	clock := &ackClock{}
	e, err := b.startMsgEnv(ctx, "bench_msg_backlog", b.msg.limit, clock, 4)
	if err != nil {
		return fmt.Errorf("bench: start service: %w", err)
	}
	defer e.close()
	prov := e.st.Providers[benchMsgProvider]
	// Enough campaigns that the backlog stays above the target while the
	// singles are sent, allowing a minute for queueing at the limit.
	drained := int(b.msg.limit * (b.msg.singleFor.Seconds() + 60))
	n := (b.msg.backlog + drained + benchRecipients - 1) / benchRecipients
	b.progress("backlog: %d campaigns of %d messages to %s, limited to %.0f/s", n, benchRecipients, benchMsgProvider, b.msg.limit)
	bodies := make([][]byte, n)
	for i := range bodies {
		rs := make([]string, benchRecipients)
		for j := range rs {
			rs[j] = fmt.Sprintf("+24492%07d", i*benchRecipients+j)
		}
		bodies[i], _ = json.Marshal(map[string]any{
			"name": fmt.Sprintf("Bench backlog %d", i), "remitter_id": e.demo.RemitterID.String(), "channel_type": "SMS",
			"country_alpha2": "AO", "content": "Flash Sale! Enjoy 50% off on all items this weekend only.", "recipients": rs,
		})
	}
	var next atomic.Int64
	var postErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				if _, err := e.post(ctx, bodies[i]); err != nil {
					mu.Lock()
					postErr = cmp.Or(postErr, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if postErr != nil {
		return fmt.Errorf("bench: backlog: %w", postErr)
	}
	// Queued means processed: every campaign SENDING, its deliveries on
	// the provider's queue.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var sending int
		if err := e.st.DB.QueryRow(ctx, `SELECT count(*) FROM campaigns WHERE kind = 'campaign' AND status IN ('SENDING', 'COMPLETED')`).Scan(&sending); err != nil {
			return err
		}
		if sending == n {
			break
		}
		if time.Now().After(deadline) {
			var states []byte
			e.st.DB.QueryRow(ctx, `SELECT json_object_agg(status, n) FROM (SELECT status, count(*) n FROM campaigns GROUP BY status) s`).Scan(&states) //nolint:errcheck
			return fmt.Errorf("bench: backlog: %d of %d campaigns queued after 2 minutes (%s)", sending, n, states)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := &b.report.msgs.backlog
	r.queuedBefore = n*benchRecipients - prov.Accepted()
	callsBefore := len(prov.CallTimes())
	sb := schedSample()
	start := time.Now()
	b.progress("backlog: %d campaign messages waiting; sending single messages at %.0f/s for %s", r.queuedBefore, b.msg.singleRate, b.msg.singleFor)
	accepted, err := e.paced(ctx, int(b.msg.singleRate*b.msg.singleFor.Seconds()), b.msg.singleRate, 2)
	if err != nil {
		return fmt.Errorf("bench: backlog singles: %w", err)
	}
	lat, err := ackLatencies(ctx, clock, accepted)
	if err != nil {
		return fmt.Errorf("bench: backlog singles: %w", err)
	}
	end := time.Now()
	p50, p99, p999 := schedWait(sb, schedSample())
	b.report.msgs.schedBacklog = [3]time.Duration{p50, p99, p999}
	b.report.msgs.loadBacklog = loadAvg()
	r.lat = lat
	r.queued = n*benchRecipients + len(accepted) - prov.Accepted()
	times := prov.CallTimes()
	var window []time.Time
	for _, t := range times {
		if !t.Before(start) && !t.After(end) {
			window = append(window, t)
		}
	}
	r.maxPerSecond = smsprovider.MaxInWindow(window, time.Second)
	r.maxPerSecondWhole = smsprovider.MaxInWindow(times, time.Second)
	r.throttled = prov.Throttled()
	r.campaignCallsMeanwhle = len(times) - callsBefore - len(accepted)
	b.progress("backlog singles: p50 %s, p99 %s over %d; provider at most %d calls in a second (limit %.0f), %d throttled; %d campaign messages still waiting",
		fmtDur(lat.pct(50)), fmtDur(lat.pct(99)), len(lat), r.maxPerSecond, b.msg.limit, r.throttled, r.queued)
	return nil
}

// postMessages is figure (8): POST /c/v1/messages from b.msg.postConns
// connections, API and projector only, as figure (1) does for batches.
func (b *bench) postMessages(ctx context.Context) error {
	conns := b.msg.postConns
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return err
	}
	if err := b.pg.CreateDatabase(ctx, "bench_msg_post"); err != nil {
		kc.Close()
		return err
	}
	st, err := service.Start(ctx, service.Config{
		Brokers: kc.ListenAddrs(), DatabaseURL: b.pg.URL("bench_msg_post"), HTTPAddr: "127.0.0.1:0",
		Components: []string{service.API, service.Projector}, Partitions: int32(b.opts.partitions), Log: b.log,
	})
	if err != nil {
		kc.Close()
		return err
	}
	e := &benchEnv{kafka: kc, st: st, base: "http://" + st.Addr}
	defer e.close()
	if err := e.demoForMessages(ctx); err != nil {
		return err
	}
	e.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
	}}
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = e.messageBody(fmt.Sprintf("+24492%07d", i), i)
	}
	hammer := func(d time.Duration) (int, latencies, error) {
		deadline := time.Now().Add(d)
		var next atomic.Int64
		var mu sync.Mutex
		var all latencies
		var firstErr error
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				var mine latencies
				for time.Now().Before(deadline) && ctx.Err() == nil {
					t0 := time.Now()
					if _, err := e.postMessage(ctx, bodies[int(next.Add(1))%len(bodies)]); err != nil {
						mu.Lock()
						firstErr = cmp.Or(firstErr, err)
						mu.Unlock()
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return len(all), all, cmp.Or(firstErr, ctx.Err())
	}
	if _, _, err := hammer(min(time.Second, b.opts.postDuration/2)); err != nil {
		return fmt.Errorf("bench: POST messages: %w", err)
	}
	n, lat, err := hammer(b.opts.postDuration)
	if err != nil {
		return fmt.Errorf("bench: POST messages: %w", err)
	}
	b.report.msgs.posts = postLevel{conns: conns, requests: n, elapsed: b.opts.postDuration, lat: lat}
	b.progress("POST /c/v1/messages at %d connections: %d requests, %.0f req/s, p50 %s, p99 %s",
		conns, n, float64(n)/b.opts.postDuration.Seconds(), fmtDur(lat.pct(50)), fmtDur(lat.pct(99)))
	return nil
}

// printMessages prints figures (6) to (8).
func (b *bench) printMessages(w io.Writer) {
	r := &b.report.msgs
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(w, "(6) Send Message on the idle service, 202 to the provider's acknowledgement (instant simulated provider), %d messages at %.0f/s\n",
		len(r.idle), b.msg.idleRate)
	fmt.Fprintf(w, "    p50 %s, p99 %s, min %s, max %s\n", fmtDur(r.idle.pct(50)), fmtDur(r.idle.pct(99)), fmtDur(r.idle.pct(0)), fmtDur(r.idle.pct(100)))
	fmt.Fprintf(w, "    meanwhile: load average %s; goroutines waited for a CPU p50 %s, p99 %s, p99.9 %s (Go scheduler latency)\n",
		r.loadIdle, fmtDur(r.schedIdle[0]), fmtDur(r.schedIdle[1]), fmtDur(r.schedIdle[2]))
	fmt.Fprintf(w, "    target p50 ≤ %s: %s; p99 ≤ %s: %s\n\n", targetMsgIdleP50, met(r.idle.pct(50) <= targetMsgIdleP50),
		targetMsgIdleP99, met(r.idle.pct(99) <= targetMsgIdleP99))
	bl := r.backlog
	fmt.Fprintf(w, "(7) Send Message while campaign messages drain through the same provider (%s) at its max_per_second = %.0f\n", benchMsgProvider, b.msg.limit)
	fmt.Fprintf(w, "    backlog: %d campaign messages waiting when the singles began, %d when the last was acknowledged\n", bl.queuedBefore, bl.queued)
	fmt.Fprintf(w, "    %d single messages at %.0f/s: p50 %s, p99 %s, max %s\n", len(bl.lat), b.msg.singleRate,
		fmtDur(bl.lat.pct(50)), fmtDur(bl.lat.pct(99)), fmtDur(bl.lat.pct(100)))
	fmt.Fprintf(w, "    provider calls: at most %d in any second while the singles were sent (%d over the whole run; %d campaign calls meanwhile), %d throttled by the provider\n",
		bl.maxPerSecond, bl.maxPerSecondWhole, bl.campaignCallsMeanwhle, bl.throttled)
	fmt.Fprintf(w, "    meanwhile: load average %s; goroutines waited for a CPU p50 %s, p99 %s, p99.9 %s (Go scheduler latency)\n",
		r.loadBacklog, fmtDur(r.schedBacklog[0]), fmtDur(r.schedBacklog[1]), fmtDur(r.schedBacklog[2]))
	fmt.Fprintf(w, "    target p99 ≤ %s: %s; the limit holds (≤ %.0f calls in every one-second window): %s\n",
		targetMsgBacklogP99, met(bl.lat.pct(99) <= targetMsgBacklogP99), b.msg.limit, met(float64(bl.maxPerSecondWhole) <= b.msg.limit))
	fmt.Fprintf(w, "    (the simulated operator refuses a call its own bucket, a tenth of a second deep, has no token for: calls bunched by a\n")
	fmt.Fprintf(w, "    CPU stall can be throttled within the per-second limit; each is retried and counted as a call)\n\n")
	p := r.posts
	fmt.Fprintf(w, "(8) POST /c/v1/messages, API and projector (no processing), %s\n", p.elapsed)
	fmt.Fprintf(w, "    %d connections: %d requests, %.0f req/s, p50 %s, p99 %s, max %s\n\n", p.conns, p.requests,
		float64(p.requests)/max(p.elapsed.Seconds(), 1e-9), fmtDur(p.lat.pct(50)), fmtDur(p.lat.pct(99)), fmtDur(p.lat.pct(100)))
	if r.profileTop != "" {
		fmt.Fprintf(w, "CPU profile of figures (6) and (7) (%s)\n%s\n", b.msg.cpuprofile, r.profileTop)
	}
}

// schedSample reads the Go scheduler's latency histogram: how long
// runnable goroutines waited for a CPU. On a machine whose CPUs are busy
// with other work, that wait is what a latency figure mostly measures.
func schedSample() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedWait is the p50, p99 and p99.9 of the scheduler latency between two
// samples.
func schedWait(before, after *metrics.Float64Histogram) (p50, p99, p999 time.Duration) {
	if before == nil || after == nil || len(before.Counts) != len(after.Counts) {
		return 0, 0, 0
	}
	counts := make([]uint64, len(after.Counts))
	var total uint64
	for i := range counts {
		counts[i] = after.Counts[i] - before.Counts[i]
		total += counts[i]
	}
	at := func(q float64) time.Duration {
		want := uint64(q * float64(total))
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen > want {
				up := after.Buckets[i+1]
				if math.IsInf(up, 1) {
					up = after.Buckets[i]
				}
				return time.Duration(up * float64(time.Second))
			}
		}
		return 0
	}
	if total == 0 {
		return 0, 0, 0
	}
	return at(0.50), at(0.99), at(0.999)
}

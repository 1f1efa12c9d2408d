package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/projections/campaigns"
)

// The targets on a 2-core machine; the report says whether each
// run met them.
const (
	targetE2E       = 50_000                 // messages/s, acceptance to COMPLETED
	targetSingleP50 = 250 * time.Millisecond // 202 → COMPLETED, one 1000-recipient campaign
	targetPostP99   = 20 * time.Millisecond  // at 4 connections
	targetRebuild   = 100_000                // events/s
	benchRecipients = 1000
	benchCredits    = 1 << 60 // never the limit being measured
)

type benchOpts struct {
	messages     int
	postDuration time.Duration
	conns        []int
	runs         int
	partitions   int
	poll         time.Duration
	timeout      time.Duration
	cpuprofile   string
	rebuildProf  string
	logLevel     string
	// Figure (9), over SMPP.
	smppMessages int
	smppBinds    int
	smppWindow   int
	smppProfile  string
}

// runBench starts the service in this process (embedded broker, throwaway
// Postgres) and measures the five figures of the benchmark.
func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o benchOpts
	fs.IntVar(&o.messages, "messages", 500_000, "messages in the end-to-end run (1000 per campaign)")
	fs.DurationVar(&o.postDuration, "post-duration", 5*time.Second, "length of each POST measurement, per connection count")
	connList := fs.String("conns", "1,4,16", "connection counts of the POST measurement")
	fs.IntVar(&o.runs, "runs", 30, "single-campaign runs (202 → COMPLETED)")
	fs.IntVar(&o.partitions, "partitions", 8, "partitions per topic")
	fs.DurationVar(&o.poll, "poll", 5*time.Millisecond, "how often the single-campaign run polls Retrieve Campaign")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on the end-to-end run after this long")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the end-to-end run to this file and print its top functions")
	fs.StringVar(&o.rebuildProf, "rebuild-cpuprofile", "", "write a CPU profile of the rebuild to this file")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level of the service while it is measured")
	fs.IntVar(&o.smppMessages, "smpp-messages", 200_000, "messages in the end-to-end run over SMPP with receipts (0 skips it)")
	fs.IntVar(&o.smppBinds, "smpp-binds", 2, "binds per provider link in the SMPP run")
	fs.IntVar(&o.smppWindow, "smpp-window", 64, "submit_sm window per bind in the SMPP run")
	fs.StringVar(&o.smppProfile, "smpp-cpuprofile", "", "write a CPU profile of the SMPP run to this file and print its top functions")
	quick := fs.Bool("quick", false, "a short run: 20,000 messages, 2s per POST level, 10 single runs, Send Message figures scaled down")
	var mo msgOpts
	fs.IntVar(&mo.idle, "msg-idle", 1000, "single messages of the idle Send Message run (figure 6)")
	fs.Float64Var(&mo.idleRate, "msg-idle-rate", 100, "their pace, per second")
	fs.IntVar(&mo.backlog, "msg-backlog", 200_000, "campaign messages waiting for the provider in figure 7")
	fs.Float64Var(&mo.limit, "msg-limit", 500, "the provider's max_per_second in figure 7 (the shipped limit of "+benchMsgProvider+")")
	fs.Float64Var(&mo.singleRate, "msg-rate", 50, "single messages per second during the backlog (figure 7)")
	fs.DurationVar(&mo.singleFor, "msg-duration", 20*time.Second, "how long figure 7 sends single messages")
	fs.IntVar(&mo.postConns, "msg-conns", 16, "connections of POST /c/v1/messages (figure 8)")
	fs.BoolVar(&mo.skipMessages, "skip-messages", false, "skip the Send Message figures (6 to 8)")
	fs.BoolVar(&mo.only, "messages-only", false, "run only the Send Message figures (6 to 8)")
	fs.StringVar(&mo.cpuprofile, "msg-cpuprofile", "", "write a CPU profile of Send Message figures 6 and 7 to this file and print its top functions")
	if err := cli.ParseFlags(fs, args, os.Stdout, "usage: ziett-bench [flags]\n       ziett-bench kannel [flags]\n\nMeasures throughput and latency with an embedded broker and a throwaway\nPostgreSQL (BENCHMARKS.md); `kannel -h` for the comparison with Kannel.\n"); err != nil {
		return err
	}
	if *quick {
		// Flags given explicitly win over the short run's defaults.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["messages"] {
			o.messages = 20_000
		}
		if !set["post-duration"] {
			o.postDuration = 2 * time.Second
		}
		if !set["runs"] {
			o.runs = 10
		}
		if !set["msg-idle"] {
			mo.idle = 200
		}
		if !set["msg-backlog"] {
			mo.backlog = 20_000
		}
		if !set["msg-duration"] {
			mo.singleFor = 5 * time.Second
		}
		if !set["smpp-messages"] {
			o.smppMessages = 20_000
		}
	}
	for _, s := range cli.SplitList(*connList) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("bench: -conns: %q is not a positive number", s)
		}
		o.conns = append(o.conns, n)
	}
	if o.messages < benchRecipients || o.runs < 1 || o.partitions < 1 {
		return errors.New("bench: -messages must be at least 1000, -runs and -partitions at least 1")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("bench: -log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{opts: o, msg: mo, log: log, started: time.Now(), cmdline: strings.TrimSpace("ziett-bench " + strings.Join(args, " ")), loadBefore: loadAvg()}
	return b.run(ctx)
}

type bench struct {
	opts    benchOpts
	msg     msgOpts
	log     *slog.Logger
	pg      *pgcluster.Cluster
	started time.Time
	cmdline string
	report  benchReport
	// loadBefore is /proc/loadavg at the start: other work on the machine
	// skews every figure.
	loadBefore string
}

type benchReport struct {
	posts      []postLevel
	loadedPost latencies
	stages     []stageCount
	cpu        cpuUse
	e2e        e2eResult
	single     latencies
	rebuild    rebuildResult
	vmHWM      int64
	peakReset  bool
	heapPeak   atomic.Uint64 // written by watchHeap's goroutine
	profileTop string
	msgs       msgReport
	smpp       smppResult
}

type postLevel struct {
	conns    int
	requests int
	elapsed  time.Duration
	lat      latencies
}

type e2eResult struct {
	campaigns, messages int
	submit, total       time.Duration
}

// cpuUse is CPU time over an interval: the machine's (every process,
// PostgreSQL included) and this process's.
type cpuUse struct {
	machineBusy, machineAll, self time.Duration
}

type cpuSample struct {
	busy, all time.Duration
	self      time.Duration
}

// readCPU samples /proc/stat (in USER_HZ, 100 per second on Linux) and
// this process's rusage.
func readCPU() cpuSample {
	var c cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return c
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		d := time.Duration(n) * 10 * time.Millisecond
		if i >= 8 { // guest time is already counted in user
			break
		}
		c.all += d
		if i != 3 && i != 4 { // idle, iowait
			c.busy += d
		}
	}
	return c
}

func (c cpuSample) since(b cpuSample) cpuUse {
	return cpuUse{machineBusy: c.busy - b.busy, machineAll: c.all - b.all, self: c.self - b.self}
}

type stageCount struct {
	name             string
	records, batches float64
}

// stageCounts reads what each stage has committed from the stack's own
// metrics (ziett_stage_records_total, ziett_stage_batches_total).
func stageCounts(st *service.Stack) map[string]stageCount {
	out := map[string]stageCount{}
	mfs, err := st.Metrics.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var stage string
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					stage = l.GetValue()
				}
			}
			c := out[stage]
			switch mf.GetName() {
			case "ziett_stage_records_total":
				c.records = m.GetCounter().GetValue()
			case "ziett_stage_batches_total":
				c.batches = m.GetCounter().GetValue()
			default:
				continue
			}
			c.name = stage
			out[stage] = c
		}
	}
	return out
}

type rebuildResult struct {
	events     int
	elapsed    time.Duration
	replayRate float64
	how        string
}

func (b *bench) run(ctx context.Context) error {
	dir, cleanup, err := benchTempDir()
	if err != nil {
		return err
	}
	defer cleanup()
	b.progress("starting a throwaway PostgreSQL cluster in %s", dir)
	b.pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		return fmt.Errorf("bench: postgres: %w", err)
	}
	defer b.pg.Stop() //nolint:errcheck

	heapDone := b.watchHeap()
	defer heapDone()
	if b.msg.only {
		if err := b.measureMessages(ctx); err != nil {
			return err
		}
		b.printMessages(os.Stdout)
		return nil
	}

	if err := b.measurePosts(ctx); err != nil {
		return err
	}
	// The POST run's broker held every accepted campaign; give its memory
	// back and restart the peak so figure (5) is the pipeline's.
	runtime.GC()
	debug.FreeOSMemory()
	b.report.peakReset = resetHWM()
	b.report.heapPeak.Store(0)
	if err := b.measurePipeline(ctx); err != nil {
		return err
	}
	b.report.vmHWM = vmHWM()
	if !b.msg.skipMessages {
		if err := b.measureMessages(ctx); err != nil {
			return err
		}
	}
	if err := b.measureSMPP(ctx); err != nil {
		return err
	}
	heapDone()
	b.print(os.Stdout)
	return nil
}

// benchEnv is one running service with its own broker and database.
type benchEnv struct {
	kafka *kfake.Cluster
	st    *service.Stack
	demo  admin.Demo
	base  string
	http  *http.Client
}

func (b *bench) startEnv(ctx context.Context, name string, components []string, conns int) (*benchEnv, error) {
	return b.startEnvWith(ctx, name, components, conns, nil)
}

// startEnvWith is startEnv with the configuration adjusted by edit (links).
func (b *bench) startEnvWith(ctx context.Context, name string, components []string, conns int, edit func(*service.Config)) (*benchEnv, error) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, err
	}
	if err := b.pg.CreateDatabase(ctx, name); err != nil {
		kc.Close()
		return nil, err
	}
	// The shipped rules cap each provider's submissions per second as an
	// operator's contract would; the benchmark measures the service, so
	// its providers answer at once, never fail and have no cap.
	rules, _, err := service.Config{}.LoadRules()
	if err != nil {
		kc.Close()
		return nil, err
	}
	rules.Throughput = nil
	cfg := service.Config{
		Brokers: kc.ListenAddrs(), DatabaseURL: b.pg.URL(name), HTTPAddr: "127.0.0.1:0",
		Components: components, Partitions: int32(b.opts.partitions),
		Provider: smsprovider.Config{}, Rules: &rules,
		Log: b.log,
	}
	if edit != nil {
		edit(&cfg)
	}
	st, err := service.Start(ctx, cfg)
	if err != nil {
		kc.Close()
		return nil, err
	}
	e := &benchEnv{kafka: kc, st: st, base: "http://" + st.Addr}
	e.demo, err = st.Admin.CreateDemo(ctx, benchCredits, []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead})
	if err == nil {
		// The benchmark measures throughput, not the per-key limit.
		_, err = st.Admin.SetKeyRate(ctx, e.demo.KeyID, admin.MaxRatePerMinute)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	e.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true,
	}}
	return e, nil
}

func (e *benchEnv) close() {
	if e.st != nil {
		e.st.Close() //nolint:errcheck
		e.st = nil
	}
	e.kafka.Close()
}

// post submits one campaign and returns its id.
func (e *benchEnv) post(ctx context.Context, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/c/v1/campaigns/batch", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-KEY", e.demo.APIKey)
	resp, err := e.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST batch: %d %s", resp.StatusCode, rb)
	}
	var out struct {
		CampaignID string `json:"campaign_id"`
	}
	if err := json.Unmarshal(rb, &out); err != nil || out.CampaignID == "" {
		return "", fmt.Errorf("POST batch: unreadable 202 body %q", rb)
	}
	return out.CampaignID, nil
}

func (e *benchEnv) status(ctx context.Context, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/c/v1/campaigns/"+id, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-API-KEY", e.demo.APIKey)
	resp, err := e.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		return "", nil
	}
	var out struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK {
		rb, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("GET campaign: %d %s", resp.StatusCode, rb)
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.Status, err
}

// measurePosts is figure (1): the API and the projector that keeps its
// ledger current (the funds check reads it), without the processor and
// dispatchers competing for the CPU, as in the production shape where the
// API runs in its own processes; 1000-recipient campaigns are posted at
// each connection count.
func (b *bench) measurePosts(ctx context.Context) error {
	maxConns := slices.Max(b.opts.conns)
	e, err := b.startEnv(ctx, "bench_post", []string{service.API, service.Projector}, maxConns)
	if err != nil {
		return fmt.Errorf("bench: start API: %w", err)
	}
	defer e.close()
	gen := newRecipientGen(0)
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = gen.body(e.demo.RemitterID.String(), fmt.Sprintf("Bench POST %d", i))
	}
	for _, conns := range b.opts.conns {
		warm := min(time.Second, b.opts.postDuration/2)
		if _, _, err := e.hammer(ctx, conns, warm, bodies); err != nil {
			return err
		}
		n, lat, err := e.hammer(ctx, conns, b.opts.postDuration, bodies)
		if err != nil {
			return err
		}
		lvl := postLevel{conns: conns, requests: n, elapsed: b.opts.postDuration, lat: lat}
		b.report.posts = append(b.report.posts, lvl)
		b.progress("POST at %d connection(s): %d requests, %.0f req/s, p50 %s, p99 %s",
			conns, n, float64(n)/lvl.elapsed.Seconds(), fmtDur(lat.pct(50)), fmtDur(lat.pct(99)))
	}
	return nil
}

// hammer posts from conns workers for d and returns the latencies.
func (e *benchEnv) hammer(ctx context.Context, conns int, d time.Duration, bodies [][]byte) (int, latencies, error) {
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
				body := bodies[int(next.Add(1))%len(bodies)]
				t0 := time.Now()
				if _, err := e.post(ctx, body); err != nil {
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
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return len(all), all, firstErr
}

// measurePipeline runs figures (2), (3) and (4) on one broker: the
// end-to-end run fills the log that the rebuild then replays.
func (b *bench) measurePipeline(ctx context.Context) error {
	const submitConns = 4
	e, err := b.startEnv(ctx, "bench_e2e", service.All, submitConns)
	if err != nil {
		return fmt.Errorf("bench: start service: %w", err)
	}
	defer e.close()
	if err := b.endToEnd(ctx, e, submitConns); err != nil {
		return err
	}
	if err := b.singleCampaigns(ctx, e); err != nil {
		return err
	}
	return b.rebuild(ctx, e)
}

// endToEnd is figure (2): every campaign posted as fast as 4 connections
// allow, timed from the first POST to the moment the read model shows the
// last campaign COMPLETED.
func (b *bench) endToEnd(ctx context.Context, e *benchEnv, conns int) error {
	n := b.opts.messages / benchRecipients
	gen := newRecipientGen(1)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = gen.body(e.demo.RemitterID.String(), fmt.Sprintf("Bench E2E %d", i))
	}
	if b.opts.cpuprofile != "" {
		stop, err := startCPUProfile(b.opts.cpuprofile)
		if err != nil {
			return err
		}
		defer func() {
			stop()
			b.report.profileTop = profileTop(b.opts.cpuprofile)
		}()
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.timeout)
	defer cancel()
	b.progress("end to end: %d campaigns of %d recipients (%d messages)", n, benchRecipients, n*benchRecipients)

	before := stageCounts(e.st)
	cpuBefore := readCPU()
	start := time.Now()
	var next atomic.Int64
	var lastPosted time.Duration
	var mu sync.Mutex
	var lat latencies
	var submitErr error
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				_, err := e.post(ctx, bodies[i])
				d := time.Since(t0)
				mu.Lock()
				lastPosted = max(lastPosted, time.Since(start))
				if err != nil {
					submitErr = cmp.Or(submitErr, err)
				}
				lat = append(lat, d)
				mu.Unlock()
				if err != nil {
					cancel()
					return
				}
			}
		})
	}

	lastReport := time.Now()
	for {
		var completed, failed int
		err := e.st.DB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'COMPLETED'), count(*) FILTER (WHERE status = 'FAILED') FROM campaigns`).
			Scan(&completed, &failed)
		if err != nil {
			mu.Lock()
			err = cmp.Or(submitErr, err)
			mu.Unlock()
			return fmt.Errorf("bench: end to end: %w", err)
		}
		if failed > 0 {
			return fmt.Errorf("bench: end to end: %d campaigns FAILED", failed)
		}
		if completed == n {
			break
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			b.progress("  %5.1fs: %d/%d campaigns posted, %d COMPLETED", time.Since(start).Seconds(), min(int(next.Load()), n), n, completed)
		}
		select {
		case <-ctx.Done():
			mu.Lock()
			err := cmp.Or(submitErr, ctx.Err())
			mu.Unlock()
			return fmt.Errorf("bench: end to end: %d of %d campaigns COMPLETED: %w", completed, n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	total := time.Since(start)
	b.report.cpu = readCPU().since(cpuBefore)
	wg.Wait()
	var msgs, sent int
	if err := e.st.DB.QueryRow(ctx, `SELECT coalesce(sum(msg_total), 0) FROM campaigns`).Scan(&msgs); err != nil {
		return err
	}
	if err := e.st.DB.QueryRow(ctx, `SELECT count(*) FROM messages WHERE status = 'SENT'`).Scan(&sent); err != nil {
		return err
	}
	if sent != msgs || msgs != n*benchRecipients {
		return fmt.Errorf("bench: end to end: %d messages planned, %d SENT, want %d", msgs, sent, n*benchRecipients)
	}
	after := stageCounts(e.st)
	var stages []stageCount
	for name, a := range after {
		c := stageCount{name: name, records: a.records - before[name].records, batches: a.batches - before[name].batches}
		if c.records > 0 {
			stages = append(stages, c)
		}
	}
	slices.SortFunc(stages, func(a, b stageCount) int { return strings.Compare(a.name, b.name) })
	mu.Lock()
	b.report.stages = stages
	b.report.e2e = e2eResult{campaigns: n, messages: msgs, submit: lastPosted, total: total}
	b.report.loadedPost = lat
	mu.Unlock()
	b.progress("end to end: %d messages in %s: %.0f messages/s", msgs, fmtDur(total), float64(msgs)/total.Seconds())
	return nil
}

// singleCampaigns is figure (3): on the now idle service, one campaign at
// a time, from its 202 to the first Retrieve Campaign that shows COMPLETED.
func (b *bench) singleCampaigns(ctx context.Context, e *benchEnv) error {
	gen := newRecipientGen(2)
	const warmup = 3
	var lat latencies
	for i := range warmup + b.opts.runs {
		body := gen.body(e.demo.RemitterID.String(), fmt.Sprintf("Bench single %d", i))
		id, err := e.post(ctx, body)
		if err != nil {
			return fmt.Errorf("bench: single campaign: %w", err)
		}
		accepted := time.Now()
		deadline := accepted.Add(time.Minute)
		for {
			st, err := e.status(ctx, id)
			if err != nil {
				return fmt.Errorf("bench: single campaign: %w", err)
			}
			if st == campaigns.StatusCompleted {
				break
			}
			if st == campaigns.StatusFailed || time.Now().After(deadline) {
				return fmt.Errorf("bench: single campaign %s: status %q", id, st)
			}
			time.Sleep(b.opts.poll)
		}
		if i >= warmup {
			lat = append(lat, time.Since(accepted))
		}
	}
	b.report.single = lat
	b.progress("single campaign: p50 %s, p99 %s over %d runs", fmtDur(lat.pct(50)), fmtDur(lat.pct(99)), len(lat))
	return nil
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// rebuild is figure (4): `ziett projections rebuild campaigns` on the
// service that just ran, which replays the whole log into a new generation
// of the read model beside the live one and switches to it.
func (b *bench) rebuild(ctx context.Context, e *benchEnv) error {
	b.progress("rebuild: replaying the log into a new generation of the campaigns read model")
	if b.opts.rebuildProf != "" {
		stop, err := startCPUProfile(b.opts.rebuildProf)
		if err != nil {
			return err
		}
		defer stop()
	}
	rb, err := projector.NewRebuilder(projector.RebuilderConfig{Pool: e.st.DB, Client: kafkalog.ClientConfig{Brokers: e.kafka.ListenAddrs()},
		Projection: campaigns.Projection{Log: b.log}, Log: b.log})
	if err != nil {
		return err
	}
	res, err := rb.Rebuild(ctx)
	if err != nil {
		return fmt.Errorf("bench: rebuild: %w", err)
	}
	b.report.rebuild = rebuildResult{events: int(res.Events), elapsed: res.Took, replayRate: float64(res.Replayed) / res.Replay.Seconds(),
		how: "projector.Rebuilder (what `ziett projections rebuild campaigns` runs): replay into a new generation, catch up, switch, drop the old one"}
	b.progress("rebuild: %d events in %s: %.0f events/s (replay phase alone %.0f events/s)",
		res.Events, fmtDur(res.Took), float64(res.Events)/res.Took.Seconds(), float64(res.Replayed)/res.Replay.Seconds())
	return nil
}

// watchHeap samples the Go heap until the returned stop is called, and
// keeps the peak.
func (b *bench) watchHeap() func() {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	stop := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			for v := sample[0].Value.Uint64(); ; {
				peak := b.report.heapPeak.Load()
				if v <= peak || b.report.heapPeak.CompareAndSwap(peak, v) {
					break
				}
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() { once.Do(func() { close(stop); wg.Wait() }) }
}

// resetHWM restarts the kernel's count of the peak resident set (Linux
// 4.0 and later).
func resetHWM() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// vmHWM is the process's peak resident set, from /proc/self/status.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// profileTop asks go tool pprof for the functions where the CPU went.
func profileTop(path string) string {
	exe, _ := os.Executable()
	var out strings.Builder
	for _, mode := range [][]string{{"-top", "-nodecount=25"}, {"-top", "-cum", "-nodecount=25"}} {
		args := append([]string{"tool", "pprof"}, mode...)
		args = append(args, exe, path)
		res, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("(go %s: %v)\n%s", strings.Join(args, " "), err, res)
		}
		fmt.Fprintf(&out, "$ go tool pprof %s %s\n%s\n", strings.Join(mode, " "), path, res)
	}
	return out.String()
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %6.1fs  %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) print(w io.Writer) {
	r := &b.report
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(w, "\nZiett Campaigns benchmark\n")
	fmt.Fprintf(w, "  date     %s\n", b.started.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  command  %s\n", b.cmdline)
	fmt.Fprintf(w, "  machine  %s\n", benchMachine())
	fmt.Fprintf(w, "  load     %s before, %s after (1, 5, 15 min averages)\n", b.loadBefore, loadAvg())
	fmt.Fprintf(w, "  setup    in-process kfake broker, private PostgreSQL (fsync off), %d partitions per topic, instant simulated providers\n\n", b.opts.partitions)

	fmt.Fprintf(w, "(1) POST /c/v1/campaigns/batch, 1000 recipients, API and projector (no processing), %s per level\n", b.opts.postDuration)
	fmt.Fprintf(w, "    %-6s %9s %9s %13s %9s %9s %9s\n", "conns", "requests", "req/s", "recipients/s", "p50", "p99", "max")
	var p99at4 time.Duration = -1
	for _, l := range r.posts {
		rps := float64(l.requests) / l.elapsed.Seconds()
		fmt.Fprintf(w, "    %-6d %9d %9.0f %13.0f %9s %9s %9s\n", l.conns, l.requests, rps, rps*benchRecipients,
			fmtDur(l.lat.pct(50)), fmtDur(l.lat.pct(99)), fmtDur(l.lat.pct(100)))
		if l.conns == 4 {
			p99at4 = l.lat.pct(99)
		}
	}
	if p99at4 >= 0 {
		fmt.Fprintf(w, "    target p99 ≤ %s at 4 connections: %s (%s)\n", targetPostP99, met(p99at4 <= targetPostP99), fmtDur(p99at4))
	}
	fmt.Fprintln(w)

	e2eRate := float64(r.e2e.messages) / r.e2e.total.Seconds()
	fmt.Fprintf(w, "(2) end to end, acceptance to COMPLETED: %d messages in %d campaigns in %s = %.0f messages/s\n",
		r.e2e.messages, r.e2e.campaigns, fmtDur(r.e2e.total), e2eRate)
	fmt.Fprintf(w, "    posting took %s (4 connections, pipeline running: p50 %s, p99 %s)\n",
		fmtDur(r.e2e.submit), fmtDur(r.loadedPost.pct(50)), fmtDur(r.loadedPost.pct(99)))
	fmt.Fprintf(w, "    target ≥ %d messages/s: %s\n", targetE2E, met(e2eRate >= targetE2E))
	if r.cpu.machineAll > 0 {
		secs := r.e2e.total.Seconds()
		fmt.Fprintf(w, "    CPU meanwhile: machine %.0f%% busy of %d CPUs; this process %.2f CPUs, the rest (PostgreSQL, others) %.2f CPUs\n",
			100*float64(r.cpu.machineBusy)/float64(r.cpu.machineAll), runtime.NumCPU(),
			r.cpu.self.Seconds()/secs, max(r.cpu.machineBusy-r.cpu.self, 0).Seconds()/secs)
	}
	if len(r.stages) > 0 {
		fmt.Fprintf(w, "    what each stage committed meanwhile (ziett_stage_records_total, ziett_stage_batches_total):\n")
		fmt.Fprintf(w, "      %-24s %10s %9s %11s %10s\n", "stage", "records", "batches", "per batch", "records/s")
		for _, c := range r.stages {
			fmt.Fprintf(w, "      %-24s %10.0f %9.0f %11.1f %10.0f\n", c.name, c.records, c.batches, c.records/max(c.batches, 1), c.records/r.e2e.total.Seconds())
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "(3) one 1000-recipient campaign on the idle service, 202 to COMPLETED (polled every %s), %d runs\n", b.opts.poll, len(r.single))
	fmt.Fprintf(w, "    p50 %s, p99 %s, min %s, max %s\n", fmtDur(r.single.pct(50)), fmtDur(r.single.pct(99)), fmtDur(r.single.pct(0)), fmtDur(r.single.pct(100)))
	fmt.Fprintf(w, "    target p50 ≤ %s: %s\n\n", targetSingleP50, met(r.single.pct(50) <= targetSingleP50))

	rebuildRate := float64(r.rebuild.events) / r.rebuild.elapsed.Seconds()
	fmt.Fprintf(w, "(4) projection rebuild: %d events in %s = %.0f events/s (replay phase alone: %.0f events/s)\n",
		r.rebuild.events, fmtDur(r.rebuild.elapsed), rebuildRate, r.rebuild.replayRate)
	fmt.Fprintf(w, "    %s\n", r.rebuild.how)
	fmt.Fprintf(w, "    target ≥ %d events/s: %s\n\n", targetRebuild, met(rebuildRate >= targetRebuild))

	scope := "whole run"
	if r.peakReset {
		scope = "runs (2) to (4)"
	}
	fmt.Fprintf(w, "(5) peak memory over %s: %s resident (VmHWM), Go heap peak %s\n", scope, fmtBytes(r.vmHWM), fmtBytes(int64(r.heapPeak.Load())))
	fmt.Fprintf(w, "    one process: every component, the in-process broker holding the whole log in memory, and the load generator;\n")
	fmt.Fprintf(w, "    PostgreSQL runs in its own processes and is not included.\n")
	if !b.msg.skipMessages {
		fmt.Fprintln(w)
		b.printMessages(w)
	}
	fmt.Fprintln(w)
	b.printSMPP(w)
	if r.profileTop != "" {
		fmt.Fprintf(w, "CPU profile of the end-to-end run (%s)\n%s", b.opts.cpuprofile, r.profileTop)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func benchMachine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				mem = ", " + fmtBytes(kb<<10) + " RAM"
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs (%s)%s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, mem, runtime.Version())
}

// recipientGen makes distinct, valid Angolan mobile numbers in the formats
// customers send: mostly E.164, some national, some spaced.
// benchText is every benchmark message's text: one GSM-7 segment.
const benchText = "Flash Sale! Enjoy 50% off on all items this weekend only."

type recipientGen struct{ next int }

func newRecipientGen(series int) *recipientGen { return &recipientGen{next: series * 2_000_000} }

var benchOperators = []string{"91", "92", "93", "94", "95", "99"}

func (g *recipientGen) number() string {
	i := g.next
	g.next++
	n := benchOperators[i%len(benchOperators)] + fmt.Sprintf("%07d", i/len(benchOperators)%10_000_000)
	switch i % 10 {
	case 7, 8:
		return n
	case 9:
		return "+244 " + n[:3] + " " + n[3:6] + " " + n[6:]
	default:
		return "+244" + n
	}
}

func (g *recipientGen) body(remitter, name string) []byte {
	rs := make([]string, benchRecipients)
	for i := range rs {
		rs[i] = g.number()
	}
	b, _ := json.Marshal(map[string]any{
		"name": name, "remitter_id": remitter, "channel_type": "SMS", "country_alpha2": "AO",
		"content":    benchText,
		"recipients": rs,
	})
	return b
}

type latencies []time.Duration

// pct is the nearest-rank percentile (0 = min, 100 = max).
func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	if p <= 0 {
		return s[0]
	}
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	default:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
}

// benchTempDir is where the throwaway cluster lives. As root PostgreSQL
// runs as another user, who must be able to reach it: /tmp, not a
// root-only TMPDIR.
func benchTempDir() (string, func(), error) {
	parent := ""
	if os.Geteuid() == 0 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "ziett-bench-")
	if err != nil {
		return "", nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

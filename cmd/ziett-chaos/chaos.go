package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kfake"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/plan"
)

// Defaults of chaosConfig.
const (
	defaultKills      = 20
	defaultMinUp      = time.Second
	defaultMaxUp      = 4 * time.Second
	defaultRate       = 8
	defaultRecipients = 30
	defaultSettle     = 3 * time.Minute
)

// chaosConfig is one chaos run. setDefaults gives a zero tunable its
// default and validate refuses a run that cannot happen.
type chaosConfig struct {
	// Dir holds the data directories, the journals and the processes' logs.
	Dir string
	// Modes: "dev" kills the whole `ziett dev` (broker and PostgreSQL
	// included) with SIGKILL and restarts it from its data directory;
	// "components" runs each component as its own `ziett serve` process
	// against one broker and one PostgreSQL and kills them one at a time.
	// Default: both.
	Modes []string
	// Kills per mode. Default: defaultKills.
	Kills int
	// Targets, in components mode, limits the kills to these processes
	// (api, processor-1, projector-2, …); empty means all of them.
	Targets []string
	// Lean runs one process per pipeline component and no webhook sender
	// in components mode (the short run in the tests).
	Lean bool
	// Uptime bounds the random time a process serves before it is killed.
	// Default: defaultMinUp and defaultMaxUp.
	MinUp, MaxUp time.Duration
	// Rate is campaigns posted per second, each with Recipients valid
	// numbers (plus an invalid one and a repeat). Default: defaultRate
	// and defaultRecipients.
	Rate       float64
	Recipients int
	// Provider failure probabilities: permanent ones are refunded.
	Permanent, Transient float64
	// Settle bounds the wait for every campaign to end after the last kill.
	// Default: defaultSettle.
	Settle time.Duration
	// Ports: the API listens on HTTPPort, other processes' operations
	// listeners on the ports after it; the dev broker on KafkaPort.
	HTTPPort, KafkaPort int
	// Command runs the ziett binary with args (the test runs itself).
	// Required.
	Command func(args ...string) *exec.Cmd
	// Out receives the report. Default: standard output.
	Out io.Writer
	// Log receives progress. Default: a logger that discards.
	Log *slog.Logger
}

func (c *chaosConfig) setDefaults() {
	if len(c.Modes) == 0 {
		c.Modes = []string{"dev", "components"}
	}
	if c.Kills == 0 {
		c.Kills = defaultKills
	}
	if c.MinUp == 0 {
		c.MinUp = defaultMinUp
	}
	if c.MaxUp == 0 {
		c.MaxUp = defaultMaxUp
	}
	if c.Rate == 0 {
		c.Rate = defaultRate
	}
	if c.Recipients == 0 {
		c.Recipients = defaultRecipients
	}
	if c.Settle == 0 {
		c.Settle = defaultSettle
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// validate refuses a run that cannot happen.
func (c chaosConfig) validate() error {
	for _, m := range c.Modes {
		if m != "dev" && m != "components" {
			return fmt.Errorf("chaos: unknown mode %q (dev or components)", m)
		}
	}
	switch {
	case c.Kills < 0 || c.Recipients < 0:
		return fmt.Errorf("chaos: negative kills %d or recipients %d", c.Kills, c.Recipients)
	case c.MinUp < 0 || c.MaxUp < c.MinUp:
		return fmt.Errorf("chaos: uptime bounds %s..%s are not an interval", c.MinUp, c.MaxUp)
	case c.Rate < 0:
		return fmt.Errorf("chaos: negative rate %v", c.Rate)
	case c.Command == nil:
		return errors.New("chaos: no command to run ziett with")
	}
	return nil
}

// chaosResult is one mode's run.
type chaosResult struct {
	Mode     string
	Kills    map[string]int
	Took     time.Duration
	Requests loadStats
	// Settled is how long after the last kill every accepted campaign had
	// ended in the read model (Settle when some had not).
	Settled time.Duration
	Counts  chaosCounts
}

func (r chaosResult) totalKills() int {
	n := 0
	for _, k := range r.Kills {
		n += k
	}
	return n
}

func (r chaosResult) write(w io.Writer) {
	fmt.Fprintf(w, "mode %s: %d kills in %s\n", r.Mode, r.totalKills(), r.Took.Round(time.Second))
	names := make([]string, 0, len(r.Kills))
	for n := range r.Kills {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  killed %-20s %d times\n", n, r.Kills[n])
	}
	fmt.Fprintf(w, "  requests: %d posted, %d answered 202 (%d of them replays), %d refused by a dead or starting process, %d 5xx, %d 409, %d other\n",
		r.Requests.Posted, r.Requests.Accepted, r.Requests.Replayed, r.Requests.ConnErrors, r.Requests.Status5xx, r.Requests.Status409, r.Requests.Other)
	fmt.Fprintf(w, "  every campaign ended %s after the load stopped\n", r.Settled.Round(100*time.Millisecond))
	r.Counts.write(w)
	verdict := "CLEAN"
	if !r.Counts.Clean() {
		verdict = "NOT CLEAN"
	}
	fmt.Fprintf(w, "  verdict: %s\n", verdict)
}

const chaosUsage = `usage: ziett-chaos [-ziett PATH] [-mode dev,components] [-kills N] [-dir DIR] [flags]

Posts campaigns with Idempotency-Keys while killing processes with SIGKILL,
then checks that nothing accepted was lost, doubled, stuck or miscounted.
  -mode dev         kill the whole ` + "`ziett dev`" + ` (its broker and PostgreSQL too)
  -mode components  kill ` + "`ziett serve -components …`" + ` processes one at a time
`

func runChaos(args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var c chaosConfig
	mode := fs.String("mode", "dev,components", "modes to run, comma-separated: dev, components")
	fs.StringVar(&c.Dir, "dir", "", "working directory (default: a new temporary one, removed after a clean run)")
	fs.IntVar(&c.Kills, "kills", 20, "kills per mode")
	targets := fs.String("targets", "", "components mode: comma-separated processes to kill (default all: api, processor-1, processor-2, dispatcher, completion-1, completion-2, projector-1, projector-2, webhooks)")
	fs.DurationVar(&c.MinUp, "min-up", time.Second, "least time a process serves before it is killed")
	fs.DurationVar(&c.MaxUp, "max-up", 4*time.Second, "most time a process serves before it is killed")
	fs.Float64Var(&c.Rate, "rate", 8, "campaigns posted per second")
	fs.IntVar(&c.Recipients, "recipients", 30, "valid recipients per campaign")
	fs.Float64Var(&c.Permanent, "permanent-failure", 0.05, "probability that a provider rejects a message for good")
	fs.Float64Var(&c.Transient, "transient-failure", 0.1, "probability that a provider call fails temporarily")
	fs.DurationVar(&c.Settle, "settle", 3*time.Minute, "how long campaigns may take to end after the last kill")
	fs.IntVar(&c.HTTPPort, "http-port", 18280, "API port; the processes' operations listeners take the next ones")
	fs.IntVar(&c.KafkaPort, "kafka-port", 19292, "port of the dev mode's broker")
	ziett := fs.String("ziett", "", "the ziett binary to run and kill (default: the ziett beside this program, else ziett on PATH)")
	if err := cli.ParseFlags(fs, args, os.Stdout, chaosUsage); err != nil {
		return err
	}
	c.Modes = cli.SplitList(*mode)
	c.Targets = cli.SplitList(*targets)
	exe, err := findZiett(*ziett)
	if err != nil {
		return err
	}
	c.Command = func(args ...string) *exec.Cmd { return exec.Command(exe, args...) }
	c.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	keep := c.Dir != ""
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "ziett-chaos-"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := runChaosModes(ctx, c)
	if err != nil {
		return fmt.Errorf("%w (processes' logs in %s)", err, c.Dir)
	}
	for _, r := range results {
		if !r.Counts.Clean() {
			return fmt.Errorf("chaos run %s is not clean (processes' logs in %s)", r.Mode, c.Dir)
		}
	}
	if !keep {
		os.RemoveAll(c.Dir) //nolint:errcheck
	}
	return nil
}

// findZiett is the ziett binary the run starts: the one named, else the
// one beside this program (make chaos builds both into bin/), else ziett on
// PATH.
func findZiett(named string) (string, error) {
	if named != "" {
		if _, err := os.Stat(named); err != nil {
			return "", cli.UsageErr("-ziett: %v", err)
		}
		return filepath.Abs(named)
	}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), "ziett")
		if _, err := os.Stat(beside); err == nil {
			return beside, nil
		}
	}
	exe, err := exec.LookPath("ziett")
	if err != nil {
		return "", errors.New("no ziett binary beside this program nor on PATH: build it (make build) and pass -ziett bin/ziett")
	}
	return exe, nil
}

// runChaosModes runs each mode in turn and prints its result.
func runChaosModes(ctx context.Context, c chaosConfig) ([]chaosResult, error) {
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	var out []chaosResult
	for _, m := range c.Modes {
		var r chaosResult
		var err error
		start := time.Now()
		switch m {
		case "dev":
			r, err = chaosDev(ctx, c)
		case "components":
			r, err = chaosComponents(ctx, c)
		default:
			return out, fmt.Errorf("chaos: unknown mode %q (dev, components)", m)
		}
		if err != nil {
			return out, fmt.Errorf("chaos %s: %w", m, err)
		}
		r.Mode, r.Took = m, time.Since(start)
		r.write(c.Out)
		out = append(out, r)
	}
	return out, nil
}

// proc is a child process that is killed and restarted.
type proc struct {
	name string
	args []string
	env  []string
	// health is the URL that answers 200 once the process serves.
	health string
	// pgDir, for `ziett dev`, is its PostgreSQL directory: a power cut
	// kills that server too.
	pgDir string
	logw  io.Writer
	cmd   *exec.Cmd
	done  chan struct{}
	c     *chaosConfig
}

// childEnv is the environment without the variables that would point a
// child somewhere else than the run's own broker and database.
func childEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "DATABASE_URL" || k == "KAFKA_BROKERS" || strings.HasPrefix(k, "ZIETT_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

func (p *proc) start() error {
	cmd := p.c.Command(p.args...)
	cmd.Env = append(cmd.Env, childEnv(p.env...)...)
	cmd.Stdout, cmd.Stderr = p.logw, p.logw
	// Its own process group, so a kill takes every process it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(p.done) }() //nolint:errcheck
	return nil
}

// waitHealthy polls the process's health endpoint.
func (p *proc) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cl := &http.Client{Timeout: time.Second}
	for {
		if resp, err := cl.Get(p.health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting: %v (see %s.log)", p.name, p.cmd.ProcessState, p.name)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy within %s", p.name, timeout)
		}
	}
}

// kill is a power cut: SIGKILL to the process group and, for `ziett dev`,
// to every process of its PostgreSQL server (found by its data directory,
// since the one starting may not have written postmaster.pid yet).
func (p *proc) kill() error {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck
	var pg []int
	if p.pgDir != "" {
		pg = processesOf(filepath.Join(p.pgDir, "pgdata"))
		for _, pid := range pg {
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid > 1 {
				syscall.Kill(-pgid, syscall.SIGKILL) //nolint:errcheck
			}
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck
		}
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s did not die", p.name)
	}
	// The server's processes must be gone before the next start finds
	// its data directory.
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pg {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("postgres process %d of %s did not die", pid, p.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// processesOf lists the processes whose command line names dir (a
// PostgreSQL server and pg_ctl run with -D dir).
func processesOf(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(b, []byte{0}) {
			if string(arg) == dir {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// stop ends the process cleanly.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM) //nolint:errcheck
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck
		<-p.done
	}
}

func (c *chaosConfig) logFile(name string) (io.WriteCloser, error) {
	return os.OpenFile(filepath.Join(c.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

func (c *chaosConfig) providerArgs(journal string) []string {
	return []string{"-provider-permanent-failure", fmt.Sprint(c.Permanent), "-provider-transient-failure", fmt.Sprint(c.Transient),
		"-provider-journal", journal}
}

// uptime is a random time to serve before the next kill.
func (c *chaosConfig) uptime() time.Duration {
	return c.MinUp + rand.N(c.MaxUp-c.MinUp+1)
}

// chaosDev kills the whole `ziett dev` again and again.
func chaosDev(ctx context.Context, c chaosConfig) (chaosResult, error) {
	res := chaosResult{Kills: map[string]int{}}
	dir := filepath.Join(c.Dir, "dev")
	journal := filepath.Join(dir, "provider-journal")
	lw, err := c.logFile("dev")
	if err != nil {
		return res, err
	}
	defer lw.Close()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", c.HTTPPort)
	kafkaAddr := fmt.Sprintf("127.0.0.1:%d", c.KafkaPort)
	p := &proc{name: "ziett dev", c: &c, logw: lw, pgDir: filepath.Join(dir, "postgres"),
		args:   append([]string{"dev"}, c.providerArgs(journal)...),
		env:    []string{"ZIETT_DATA_DIR=" + dir, "ZIETT_HTTP_ADDR=" + httpAddr, "ZIETT_KAFKA_ADDR=" + kafkaAddr, "ZIETT_LOG_LEVEL=warn"},
		health: "http://" + httpAddr + "/healthz"}
	if err := p.start(); err != nil {
		return res, err
	}
	defer p.stop()
	if err := p.waitHealthy(ctx, 3*time.Minute); err != nil {
		return res, err
	}
	t, err := devTarget(dir, kafkaAddr)
	if err != nil {
		return res, err
	}
	org, err := chaosOrg(ctx, t)
	if err != nil {
		return res, err
	}
	ld := newChaosLoad(c, "http://"+httpAddr, org)
	ld.start(ctx)
	for i := range c.Kills {
		// Most kills hit a serving process; every fifth one a process
		// still starting (recovering its broker log and its database).
		if i%5 == 2 {
			time.Sleep(time.Duration(rand.N(1500)+300) * time.Millisecond)
		} else {
			if err := p.waitHealthy(ctx, 3*time.Minute); err != nil {
				ld.stop()
				return res, err
			}
			time.Sleep(c.uptime())
		}
		if err := p.kill(); err != nil {
			ld.stop()
			return res, err
		}
		res.Kills["ziett dev (whole process)"]++
		fmt.Fprintf(lw, "\n=== chaos: kill %d of the whole process ===\n\n", i+1)
		if err := p.start(); err != nil {
			ld.stop()
			return res, err
		}
	}
	if err := p.waitHealthy(ctx, 3*time.Minute); err != nil {
		ld.stop()
		return res, err
	}
	return settleAndCheck(ctx, c, ld, t, org, journal, &res)
}

// target is where the run's processes find Kafka and PostgreSQL.
type target struct {
	DatabaseURL string
	Brokers     []string
}

// devTarget finds the dev process's database, as the operator commands do.
func devTarget(dir, kafkaAddr string) (target, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "postgres", "port"))
	if err != nil {
		return target{}, err
	}
	return target{Brokers: []string{kafkaAddr},
		DatabaseURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%s/ziett?sslmode=disable", strings.TrimSpace(string(raw)))}, nil
}

// chaosComponents runs each component as its own process against one
// broker and one database (which this process hosts and never kills), two
// of some, and kills them one at a time.
func chaosComponents(ctx context.Context, c chaosConfig) (chaosResult, error) {
	res := chaosResult{Kills: map[string]int{}}
	dir := filepath.Join(c.Dir, "components")
	journal := filepath.Join(dir, "provider-journal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return res, err
	}
	defer kc.Close()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "postgres"), Ephemeral: true})
	if err != nil {
		return res, err
	}
	defer pg.Stop() //nolint:errcheck
	if err := pg.CreateDatabase(ctx, "ziett"); err != nil {
		return res, err
	}
	t := target{Brokers: kc.ListenAddrs(), DatabaseURL: pg.URL("ziett")}
	org, err := chaosOrg(ctx, t)
	if err != nil {
		return res, err
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", c.HTTPPort)
	specs := []struct{ name, comps string }{
		{"api", "api"}, {"processor-1", "processor"}, {"processor-2", "processor"}, {"dispatcher", "dispatcher"},
		{"completion-1", "completion"}, {"completion-2", "completion"}, {"projector-1", "projector"}, {"projector-2", "projector"},
		{"webhooks", "webhooks"},
	}
	if c.Lean {
		specs = slices.DeleteFunc(specs, func(s struct{ name, comps string }) bool {
			return s.comps == "webhooks" || strings.HasSuffix(s.name, "-2")
		})
	}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i, s := range specs {
		addr := httpAddr
		if i > 0 {
			addr = fmt.Sprintf("127.0.0.1:%d", c.HTTPPort+i)
		}
		lw, err := c.logFile(s.name)
		if err != nil {
			return res, err
		}
		defer lw.Close()
		args := []string{"serve", "-components", s.comps}
		if s.comps == "dispatcher" {
			// One dispatcher process: the simulated operators' journals
			// belong to one process at a time.
			args = append(args, c.providerArgs(journal)...)
		}
		p := &proc{name: s.name, c: &c, logw: lw, args: args,
			env: []string{"KAFKA_BROKERS=" + strings.Join(t.Brokers, ","), "DATABASE_URL=" + t.DatabaseURL,
				"ZIETT_HTTP_ADDR=" + addr, "ZIETT_INSTANCE_ID=" + s.name, "ZIETT_LOG_LEVEL=warn"},
			health: "http://" + addr + "/healthz"}
		if err := p.start(); err != nil {
			return res, err
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		if err := p.waitHealthy(ctx, 2*time.Minute); err != nil {
			return res, err
		}
	}
	victims := procs
	if len(c.Targets) > 0 {
		victims = nil
		for _, p := range procs {
			if slices.Contains(c.Targets, p.name) {
				victims = append(victims, p)
			}
		}
		if len(victims) == 0 {
			return res, fmt.Errorf("no process is named %v", c.Targets)
		}
	}
	ld := newChaosLoad(c, "http://"+httpAddr, org)
	ld.start(ctx)
	// Shuffled rounds: every process is killed once before any is killed
	// again.
	var order []*proc
	for i := range c.Kills {
		if len(order) == 0 {
			order = slices.Clone(victims)
			rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		p := order[0]
		order = order[1:]
		time.Sleep(c.uptime())
		if err := p.kill(); err != nil {
			ld.stop()
			return res, err
		}
		res.Kills[p.name]++
		fmt.Fprintf(p.logw, "\n=== chaos: kill %d ===\n\n", i+1)
		if err := p.start(); err != nil {
			ld.stop()
			return res, err
		}
	}
	for _, p := range procs {
		if err := p.waitHealthy(ctx, 2*time.Minute); err != nil {
			ld.stop()
			return res, err
		}
	}
	return settleAndCheck(ctx, c, ld, t, org, journal, &res)
}

// chaosOrg creates the run's organisation: credits for every message the
// run can post, an approved sender and a key without a practical rate
// limit.
func chaosOrg(ctx context.Context, t target) (admin.Demo, error) {
	db, err := postgres.Open(ctx, t.DatabaseURL)
	if err != nil {
		return admin.Demo{}, fmt.Errorf("postgres: %w", err)
	}
	defer db.Close()
	cl, err := kafkalog.Client(kafkalog.ClientConfig{Brokers: t.Brokers})
	if err != nil {
		return admin.Demo{}, err
	}
	defer cl.Close()
	rules := plan.DefaultRules()
	if err := kafkalog.EnsureTopics(ctx, cl, kafkalog.Layout{}, rules.Routes.Providers()); err != nil {
		return admin.Demo{}, err
	}
	svc := admin.Service{Dir: postgres.Directory{DB: db}, Log: kafkalog.NewAppender(cl)}
	d, err := svc.CreateDemo(ctx, chaosCredits, []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead})
	if err != nil {
		return d, err
	}
	_, err = svc.SetKeyRate(ctx, d.KeyID, admin.MaxRatePerMinute)
	return d, err
}

// chaosCredits pays for every message a run posts many times over.
const chaosCredits = 10_000_000_000

// settleAndCheck stops the load, waits for every accepted campaign to end,
// and runs the checker.
func settleAndCheck(ctx context.Context, c chaosConfig, ld *chaosLoad, t target, org admin.Demo, journal string, res *chaosResult) (chaosResult, error) {
	ld.stop()
	res.Requests = ld.stats()
	db, err := pgxpool.New(ctx, t.DatabaseURL)
	if err != nil {
		return *res, err
	}
	defer db.Close()
	keys, conflicts := ld.results()
	ids := make([]uuid.UUID, 0, len(keys))
	for _, id := range keys {
		ids = append(ids, id)
	}
	settleStart := time.Now()
	deadline := settleStart.Add(c.Settle)
	res.Settled = c.Settle
	for time.Now().Before(deadline) {
		var open int
		err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM unnest($1::uuid[]) id
			WHERE NOT EXISTS (SELECT 1 FROM campaigns WHERE campaign_id = id AND status IN ('COMPLETED', 'FAILED')))
			+ (SELECT count(*) FROM messages WHERE campaign_id = ANY($1) AND status = 'QUEUED')`, ids).Scan(&open)
		if err != nil {
			return *res, err
		}
		if open == 0 {
			res.Settled = time.Since(settleStart)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	counts, err := checkChaos(ctx, t.Brokers, db, org.OrgID, keys, conflicts, journal, c.Log)
	res.Counts = counts
	return *res, err
}

// loadStats counts what the API answered.
type loadStats struct {
	Posted, Accepted, Replayed, ConnErrors, Status5xx, Status409, Other int
}

// chaosLoad posts campaigns, each under its own Idempotency-Key, and retries a
// key until it is answered 202, as a careful client would.
type chaosLoad struct {
	c      chaosConfig
	base   string
	org    admin.Demo
	run    string
	http   *http.Client
	next   atomic.Int64
	halt   atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	keys      map[string]uuid.UUID
	conflicts int
	st        loadStats
}

func newChaosLoad(c chaosConfig, base string, org admin.Demo) *chaosLoad {
	return &chaosLoad{c: c, base: base, org: org, run: uuid.NewString()[:8], keys: map[string]uuid.UUID{},
		http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 16}}}
}

// start posts Rate campaigns per second until stop.
func (l *chaosLoad) start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(time.Duration(float64(time.Second) / l.c.Rate))
		defer tick.Stop()
		for !l.halt.Load() {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			i := l.next.Add(1)
			l.wg.Add(1)
			go func() { defer l.wg.Done(); l.submit(ctx, i) }()
		}
	}()
}

// stop ends the posting and waits (bounded) for every key to be answered.
func (l *chaosLoad) stop() {
	l.halt.Store(true)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		l.cancel()
		<-done
	}
	l.cancel()
}

func (l *chaosLoad) results() (map[string]uuid.UUID, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys, l.conflicts
}

func (l *chaosLoad) stats() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// body is campaign i: short or long GSM-7 text or UCS-2, numbers of every
// Angolan operator and of Portugal, an invalid number and a repeat.
func (l *chaosLoad) body(i int64) []byte {
	contents := []string{"Chaos test: flash sale this weekend only.", strings.Repeat("Two segments of GSM-7 text. ", 7), "Promoção de Natal 🎄"}
	rs := make([]string, 0, l.c.Recipients+2)
	for j := range l.c.Recipients {
		n := (i*int64(l.c.Recipients) + int64(j)) % 10_000_000
		switch j % 7 {
		case 6:
			rs = append(rs, fmt.Sprintf("+35191%07d", n))
		default:
			rs = append(rs, fmt.Sprintf("+2449%d%07d", []int{1, 2, 3, 4, 5, 9}[j%6], n))
		}
	}
	rs = append(rs, "+244 123", rs[0])
	b, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("chaos %s %d", l.run, i), "remitter_id": l.org.RemitterID,
		"channel_type": "SMS", "country_alpha2": "AO", "content": contents[i%3], "recipients": rs})
	return b
}

func (l *chaosLoad) count(f func(*loadStats)) {
	l.mu.Lock()
	f(&l.st)
	l.mu.Unlock()
}

// submit posts campaign i until the API answers it with a campaign.
func (l *chaosLoad) submit(ctx context.Context, i int64) {
	key := fmt.Sprintf("chaos-%s-%d", l.run, i)
	body := l.body(i)
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/c/v1/campaigns/batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-KEY", l.org.APIKey)
		req.Header.Set("Idempotency-Key", key)
		l.count(func(s *loadStats) { s.Posted++ })
		resp, err := l.http.Do(req)
		if err != nil {
			l.count(func(s *loadStats) { s.ConnErrors++ })
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusAccepted:
			var b struct {
				CampaignID uuid.UUID `json:"campaign_id"`
			}
			if err := json.Unmarshal(rb, &b); err != nil {
				l.count(func(s *loadStats) { s.Other++ })
				continue
			}
			l.mu.Lock()
			l.st.Accepted++
			if resp.Header.Get("Idempotent-Replayed") == "true" {
				l.st.Replayed++
			}
			if prev, ok := l.keys[key]; ok && prev != b.CampaignID {
				l.conflicts++
			}
			l.keys[key] = b.CampaignID
			l.mu.Unlock()
			return
		case resp.StatusCode == http.StatusConflict:
			l.count(func(s *loadStats) { s.Status409++ })
		case resp.StatusCode >= 500:
			l.count(func(s *loadStats) { s.Status5xx++ })
		default:
			// A 4xx other than 409 is a bug in the load or in the API.
			l.count(func(s *loadStats) { s.Other++ })
			l.c.Log.Error("chaos: request refused", "key", key, "status", resp.StatusCode, "body", string(rb))
			return
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

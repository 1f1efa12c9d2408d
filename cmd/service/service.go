// Package service assembles the components (API, processor, dispatchers,
// completion monitor, projector) against a Kafka cluster and a Postgres
// database. The binary's subcommands and the integration tests both start
// the service through it, so tests exercise the real wiring.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/dashboard"
	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/metrics"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/commands/complete"
	"ziett.co/campaigns/commands/control"
	"ziett.co/campaigns/commands/dispatch"
	"ziett.co/campaigns/commands/process"
	"ziett.co/campaigns/commands/receipts"
	"ziett.co/campaigns/domain/plan"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// Component names, for running a subset in one process.
const (
	API        = "api"
	Processor  = "processor"
	Dispatcher = "dispatcher"
	Completion = "completion"
	Projector  = "projector"
	Webhooks   = "webhooks"
)

// All is every component.
var All = []string{API, Processor, Dispatcher, Completion, Projector, Webhooks}

// DefaultPartitions is the partition count of the topics Start creates.
const DefaultPartitions = 8

// DefaultProjectorMembers: a member applies one batch at a time, and while
// PostgreSQL writes it the member's CPU idles and the other way round, so
// one member caps the read model, and with it what customers see as
// throughput; several overlap (BENCHMARKS.md has the figures). They split
// the partitions as instances in separate processes do, and the projection
// serialises batches that touch the same campaign.
const DefaultProjectorMembers = 3

// Config says what to run and against what. Start applies the defaults
// and validates it.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// DatabaseURL is the PostgreSQL database. Required.
	DatabaseURL string
	// HTTPAddr is where the API listens; "127.0.0.1:0" picks a port.
	// Default: "" (a process without the API serves no ops endpoints).
	HTTPAddr string
	// Components are the parts this process runs (API, Processor, ...).
	// Default: All.
	Components []string
	// Partitions is the partition count of the topics Start creates.
	// Default: DefaultPartitions.
	Partitions int32
	// Provider configures the simulated provider behind every route
	// without a link.
	Provider smsprovider.Config
	// Retry bounds the dispatchers' attempts. Default: dispatch.DefaultRetry.
	Retry dispatch.Retry
	// Log receives every component's logs. Default: slog.Default().
	Log *slog.Logger
	// ClientOpts are added to every Kafka client (tests shorten timeouts).
	// Default: none.
	ClientOpts []kgo.Opt
	// Rules, when set, replace the rules file's rules (routing, pricing,
	// provider throughput), and Links, when set, its provider links (how
	// each provider is reached); RulesFile names the file, else the
	// shipped rules (which have no links) apply.
	Rules     *plan.Rules
	Links     map[string]smsprovider.LinkConfig
	RulesFile string
	// InstanceID makes the stages static group members with stable
	// transactional ids (see kafkalog.TxLoopConfig.InstanceID); unique per
	// process. Default: "" (dynamic members).
	InstanceID string
	// Snapshots is how often the stateful stages snapshot a partition (its
	// Topic is ignored). Default: DefaultSnapshots.
	Snapshots kafkalog.SnapshotPolicy
	// Webhooks tunes the webhook sender: retry schedule, workers, the
	// allow-list of otherwise refused addresses (dev mode allows
	// loopback). Each field has its own default (webhooks.Config).
	Webhooks webhooks.Config
	// BodyReadTimeout bounds the time the API waits for a request's body
	// after its headers. Default: httpapi.DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// RequireLinks refuses to start a dispatcher when a routed provider has
	// no link in the rules (production); otherwise such a provider gets the
	// simulated provider configured by Provider (tests). Default: false.
	RequireLinks bool
	// ProjectorMembers is how many members of the campaign projector's
	// consumer group this process runs. Default: DefaultProjectorMembers.
	ProjectorMembers int
}

func (cfg *Config) setDefaults() {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.Components) == 0 {
		cfg.Components = All
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Snapshots.Every == 0 && cfg.Snapshots.Interval == 0 {
		cfg.Snapshots = DefaultSnapshots
	}
	if cfg.ProjectorMembers == 0 {
		cfg.ProjectorMembers = DefaultProjectorMembers
	}
}

// Validate reports a config no service can start with.
func (cfg Config) Validate() error {
	switch {
	case len(cfg.Brokers) == 0:
		return errors.New("service: no Kafka brokers")
	case cfg.DatabaseURL == "":
		return errors.New("service: no database URL")
	case cfg.Partitions < 0:
		return fmt.Errorf("service: negative partition count %d", cfg.Partitions)
	case cfg.ProjectorMembers < 0:
		return fmt.Errorf("service: negative projector members %d", cfg.ProjectorMembers)
	}
	for _, c := range cfg.Components {
		if !slices.Contains(All, c) {
			return fmt.Errorf("service: unknown component %q (one of %s)", c, strings.Join(All, ", "))
		}
	}
	return nil
}

// Stack is a running set of components.
type Stack struct {
	DB    *pgxpool.Pool
	Kafka *kgo.Client
	Admin admin.Service
	// Directory is the store of organisations, keys and sender IDs.
	Directory postgres.Directory
	Addr      string // the API's listen address, when it runs
	Providers map[string]*smsprovider.Simulated
	// Links are the providers reached over SMPP.
	Links   map[string]*smsprovider.Link
	Rules   plan.Rules
	Metrics *metrics.Metrics // this stack's series (observe.go)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
	srv    *http.Server
}

// Start connects, prepares topics and schema, and starts the components.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Every client counts what it appends (metrics.KafkaHook).
	obs := metrics.New()
	cfg.ClientOpts = append(slices.Clip(cfg.ClientOpts), kgo.WithHooks(obs.KafkaHook(), obs.KafkaClientHook()))
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cl, err := kafkalog.Client(cfg.kafka())
	if err != nil {
		db.Close()
		return nil, err
	}
	rules, links, err := cfg.LoadRules()
	// Only a process that dispatches talks to providers.
	if err == nil && cfg.RequireLinks && slices.Contains(cfg.Components, Dispatcher) {
		if u := smsprovider.Unlinked(rules.Routes.Providers(), links); len(u) > 0 {
			err = fmt.Errorf("provider %s is routed but has no link: give it an \"smpp\" (or \"simulated\") object in the rules file", strings.Join(u, ", "))
		}
	}
	if err != nil {
		cl.Close()
		db.Close()
		return nil, err
	}
	if err := kafkalog.EnsureTopics(ctx, cl, kafkalog.Layout{Partitions: cfg.Partitions}, rules.Routes.Providers()); err != nil {
		cl.Close()
		db.Close()
		return nil, fmt.Errorf("kafka topics: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	appender := kafkalog.NewAppender(cl)
	dir := postgres.Directory{DB: db}
	s := &Stack{DB: db, Kafka: cl, Admin: admin.Service{Dir: dir, Log: appender}, Directory: dir, Rules: rules,
		cancel: cancel, Providers: map[string]*smsprovider.Simulated{}, Links: map[string]*smsprovider.Link{}}
	s.Metrics = obs
	has := func(c string) bool { return slices.Contains(cfg.Components, c) }

	if has(Processor) {
		if err := s.runStage(runCtx, cfg.Log, "processor", ProcessorLoop(cfg, process.NewProcessor(process.Config{Rules: rules, Log: cfg.Log}))); err != nil {
			s.Close()
			return nil, err
		}
		// Releases scheduled campaigns when their send_at comes; the
		// processor processes a released campaign once, however many
		// schedulers run.
		sched, err := control.NewScheduler(control.SchedulerConfig{Due: campaigns.Reader{DB: db}, Log: appender, Logger: cfg.Log})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.run(cfg.Log, "scheduler", sched.Run, runCtx)
	}
	if has(Completion) {
		if err := s.runStage(runCtx, cfg.Log, "completion", CompletionLoop(cfg, complete.NewMonitor(complete.Config{Log: cfg.Log}))); err != nil {
			s.Close()
			return nil, err
		}
	}
	if has(Dispatcher) {
		for _, name := range rules.Routes.Providers() {
			prov, err := s.provider(runCtx, cfg, rules, links[name], name)
			if err != nil {
				s.Close()
				return nil, err
			}
			budget := dispatch.NewBudget(rules.Throughput[name])
			s.run(cfg.Log, "budget."+name, func(ctx context.Context) error { budget.Run(ctx); return nil }, runCtx)
			bulk, prio, err := NewDispatchers(cfg, db, name, prov, budget, obs.MessageAcked)
			if err != nil {
				s.Close()
				return nil, err
			}
			if err := s.runStage(runCtx, cfg.Log, "dispatcher."+name, DispatcherLoop(cfg, name, bulk)); err != nil {
				s.Close()
				return nil, err
			}
			if err := s.runStage(runCtx, cfg.Log, "dispatcher."+name+".priority", PriorityDispatcherLoop(cfg, name, prio)); err != nil {
				s.Close()
				return nil, err
			}
		}
		// Receipts are appended by the links of this component; the stage
		// deciding them runs beside the dispatchers.
		dec := receipts.NewDecider(receipts.Config{Log: cfg.Log, Decided: obs.Receipts()})
		if err := s.runStage(runCtx, cfg.Log, "receipts", ReceiptsLoop(cfg, dec)); err != nil {
			s.Close()
			return nil, err
		}
	}
	if has(Projector) {
		type runner struct {
			name string
			cfg  projector.RunnerConfig
		}
		var runners []runner
		for i := range cfg.ProjectorMembers {
			runners = append(runners, runner{"projector", projector.RunnerConfig{Client: cfg.kafka(), Pool: db,
				Projection: campaigns.Projection{Log: cfg.Log, OnChange: whproj.Outbox{Queue: webhooks.Queue{}, Log: cfg.Log}.OnChange},
				Log:        cfg.Log, InstanceID: memberID(cfg.InstanceID, i),
				Committed: obs.Stage("projection.campaigns"), Parked: obs.Parked}})
		}
		runners = append(runners, runner{"projector.ledger", projector.RunnerConfig{Client: cfg.kafka(), Pool: db,
			Projection: ledger.Projection{Log: cfg.Log}, Log: cfg.Log, InstanceID: cfg.InstanceID,
			Committed: obs.Stage("projection.ledger"), Parked: obs.Parked}})
		for _, rn := range runners {
			r, err := projector.NewRunner(rn.cfg)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("%s: %w", rn.name, err)
			}
			s.run(cfg.Log, rn.name, r.Run, runCtx)
		}
	}
	if has(Webhooks) {
		sender, err := webhooks.NewSender(webhooks.SenderConfig{DatabaseURL: cfg.DatabaseURL, Config: cfg.Webhooks, Log: cfg.Log,
			Observe: obs.WebhookDelivery})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.run(cfg.Log, "webhooks", sender.Run, runCtx)
	}
	ops, err := s.observe(runCtx, cfg, has(API))
	if err != nil {
		s.Close()
		return nil, err
	}
	if has(API) {
		acc, err := accept.New(accept.Config{Senders: dir, Log: appender, Rules: rules, Logger: cfg.Log,
			Ledger: LedgerView(db), Stream: kafkalog.OrgStream{Client: cl, Brokers: cfg.Brokers},
			Claims: postgres.Idempotency{DB: db}})
		if err != nil {
			s.Close()
			return nil, err
		}
		ctl, err := control.New(control.Config{Log: appender, Campaigns: campaigns.Reader{DB: db}})
		if err != nil {
			s.Close()
			return nil, err
		}
		api := &httpapi.Server{
			Auth:           dir,
			Accept:         acc,
			Limiter:        postgres.RateLimiter{DB: db},
			MessageLimiter: postgres.RateLimiter{DB: db, Table: postgres.MessageWindows},
			Messages:       campaigns.Reader{DB: db},
			Balances:       ledger.Reader{DB: db},
			Campaigns:      campaigns.Reader{DB: db},
			Lists:          campaigns.Reader{DB: db},
			Trail:          kafkalog.Trail{Client: cfg.kafka()},
			Webhooks:       webhooks.NewRegistry(db),
			Control:        ctl,
			Suppressions:   campaigns.Reader{DB: db},
			Consent:        control.Consent{Log: appender},
			Log:            cfg.Log,
			Ops:            ops,

			BodyReadTimeout: cfg.BodyReadTimeout,
		}
		ui, err := dashboard.New(dashboard.Config{
			Auth: dir, Sessions: postgres.Sessions{DB: db}, Directory: dir,
			Campaigns: api.Campaigns, Lists: api.Lists, Trail: api.Trail, Balances: api.Balances,
			Webhooks: webhooks.NewRegistry(db), Messages: api.Messages, Commands: api, Prices: rules.Prices, Log: cfg.Log,
		})
		if err != nil {
			s.Close()
			return nil, err
		}
		api.UI = ui.Handler()
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
		}
		s.Addr = ln.Addr().String()
		s.srv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.fail(fmt.Errorf("http: %w", err))
			}
		}()
	}
	return s, nil
}

func (s *Stack) run(log *slog.Logger, name string, fn func(context.Context) error, ctx context.Context) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(ctx); err != nil {
			log.Error("component stopped", "component", name, "err", err)
			s.fail(fmt.Errorf("%s: %w", name, err))
		}
	}()
}

func (s *Stack) fail(err error) {
	s.errMu.Lock()
	s.err = errors.Join(s.err, err)
	s.errMu.Unlock()
	s.cancel()
}

// Err is the first failure of a component, if any.
func (s *Stack) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Done is closed when the components have stopped, after Close or a failure.
func (s *Stack) Done() <-chan struct{} {
	ch := make(chan struct{})
	go func() { s.wg.Wait(); close(ch) }()
	return ch
}

// Close stops the components, finishing in-flight requests and
// transactions, then disconnects.
func (s *Stack) Close() error {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.srv.Shutdown(ctx) //nolint:errcheck
		cancel()
	}
	s.cancel()
	s.wg.Wait()
	s.Kafka.Close()
	s.DB.Close()
	return s.Err()
}

// memberID is the static group instance id of a process's i-th projector
// member: unique within the group, stable across restarts. None without a
// process instance id.
func memberID(instance string, i int) string {
	if instance == "" {
		return ""
	}
	return instance + "-" + strconv.Itoa(i)
}

// ledgerView is the ledger read model with the position its projector
// stores beside it: what the API's funds check reads (accept.Ledger).
type ledgerView struct {
	ledger.Reader
	projector.Positions
}

// LedgerView is the ledger as the API's funds check reads it.
func LedgerView(db *pgxpool.Pool) accept.Ledger {
	return ledgerView{ledger.Reader{DB: db}, projector.Positions{DB: db, Projection: ledger.Name, Topic: kafkalog.OrgEvents}}
}

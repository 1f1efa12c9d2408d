package service

import (
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/commands/dispatch"
	"ziett.co/campaigns/domain/plan"
	"ziett.co/campaigns/projections/campaigns"
)

// Group names of the pipeline's stages.
const (
	ProcessorGroup  = "ziett.processor"
	CompletionGroup = "ziett.completion"
	ReceiptsGroup   = "ziett.receipts"
)

// DispatcherGroup is the consumer group of one provider's dispatchers.
func DispatcherGroup(provider string) string { return "ziett.dispatcher." + provider }

// DefaultSnapshots is how often the stateful stages snapshot a partition:
// a rebuild then folds at most about this many records.
var DefaultSnapshots = kafkalog.SnapshotPolicy{Every: 1000, Interval: time.Minute}

// snapshots is cfg's snapshot policy for topic, defaults applied.
func (cfg Config) snapshots(topic string) kafkalog.SnapshotPolicy {
	cfg.setDefaults()
	p := cfg.Snapshots
	p.Topic = topic
	return p
}

// kafka is the client config every Kafka client of the service shares.
func (cfg Config) kafka() kafkalog.ClientConfig {
	return kafkalog.ClientConfig{Brokers: cfg.Brokers, Opts: cfg.ClientOpts}
}

// ProcessorLoop is the config of the processor's loop as Start runs it, around stage
// (a *process.Processor, or a test's wrapper of one).
func ProcessorLoop(cfg Config, stage kafkalog.Stage) kafkalog.TxLoopConfig {
	return kafkalog.TxLoopConfig{Client: cfg.kafka(), Group: ProcessorGroup, Topics: []string{kafkalog.OrgEvents},
		Stage: stage, Log: cfg.Log, InstanceID: cfg.InstanceID,
		Snapshots: cfg.snapshots(kafkalog.ProcessorSnapshots)}
}

// CompletionLoop is the config of the completion monitor's loop as Start runs it.
func CompletionLoop(cfg Config, stage kafkalog.Stage) kafkalog.TxLoopConfig {
	return kafkalog.TxLoopConfig{Client: cfg.kafka(), Group: CompletionGroup, Topics: []string{kafkalog.MessageEvents},
		Stage: stage, Log: cfg.Log, InstanceID: cfg.InstanceID,
		Snapshots: cfg.snapshots(kafkalog.CompletionSnapshots)}
}

// ReceiptsLoop is the config of the receipt stage's loop as Start runs it.
func ReceiptsLoop(cfg Config, stage kafkalog.Stage) kafkalog.TxLoopConfig {
	return kafkalog.TxLoopConfig{Client: cfg.kafka(), Group: ReceiptsGroup, Topics: []string{kafkalog.Receipts},
		Stage: stage, Log: cfg.Log, InstanceID: cfg.InstanceID,
		Snapshots: cfg.snapshots(kafkalog.ReceiptSnapshots)}
}

// DispatcherConfig is the config of a provider's lone dispatcher, which
// keeps its own share of the provider's limit.
func DispatcherConfig(cfg Config, rules plan.Rules, db *pgxpool.Pool, provider string, p dispatch.Provider) dispatch.Config {
	return dispatch.Config{Provider: p, Name: provider, Retry: cfg.Retry, Concurrency: 64, Log: cfg.Log,
		Intents: &postgres.DispatchClaims{DB: db}, Limit: rules.Throughput[provider],
		Controls: campaigns.Reader{DB: db}}
}

// NewDispatcher is a provider's lone dispatcher (DispatcherConfig).
func NewDispatcher(cfg Config, rules plan.Rules, db *pgxpool.Pool, provider string, p dispatch.Provider) (*dispatch.Dispatcher, error) {
	return dispatch.New(DispatcherConfig(cfg, rules, db, provider, p))
}

// DispatcherFetchBytes is how much of one queue partition a rate-limited
// dispatcher fetches at a time: a few dozen deliveries, or one producer
// batch, so that at the provider's limit every partition with work is
// served every few seconds (docs/partition-fairness.md). A dispatcher
// without a limit works through a default-sized fetch in about a second
// and keeps the default, which costs fewer fetches.
const DispatcherFetchBytes = 2 << 10

// fairFetch bounds a rate-limited dispatcher's fetches (DispatcherFetchBytes).
func fairFetch(c kafkalog.TxLoopConfig) kafkalog.TxLoopConfig {
	if d, ok := c.Stage.(*dispatch.Dispatcher); ok && d.Limited() {
		c.PartitionFetchBytes = DispatcherFetchBytes
	}
	return c
}

// NewDispatchers are one provider's two dispatchers (campaign queue and
// priority queue) as Start builds them, sharing budget. acked, when set,
// is told of every message the provider acknowledged.
func NewDispatchers(cfg Config, db *pgxpool.Pool, provider string, p dispatch.Provider, budget *dispatch.Budget,
	acked func(priority bool, sinceAccepted time.Duration)) (bulk, priority *dispatch.Dispatcher, err error) {
	mk := func(prio bool, conc int, controls dispatch.Controls) dispatch.Config {
		return dispatch.Config{Provider: p, Name: provider, Retry: cfg.Retry, Concurrency: conc, Log: cfg.Log,
			Intents: &postgres.DispatchClaims{DB: db}, Budget: budget, Priority: prio, Acked: acked, Controls: controls}
	}
	// Campaigns can be paused and cancelled; single messages cannot, so
	// their queue asks nothing before a call.
	if bulk, err = dispatch.New(mk(false, 64, campaigns.Reader{DB: db})); err != nil {
		return nil, nil, err
	}
	if priority, err = dispatch.New(mk(true, 16, dispatch.NoControls{})); err != nil {
		return nil, nil, err
	}
	return bulk, priority, nil
}

// DispatcherLoop is the config of one provider's dispatcher loop as Start runs it.
func DispatcherLoop(cfg Config, provider string, stage kafkalog.Stage) kafkalog.TxLoopConfig {
	return fairFetch(kafkalog.TxLoopConfig{Client: cfg.kafka(), Group: DispatcherGroup(provider),
		Topics: []string{kafkalog.DeliveryTopic(provider)}, Stateless: true,
		Stage: stage, Log: cfg.Log, InstanceID: cfg.InstanceID})
}

// PriorityDispatcherGroup is the consumer group of one provider's
// priority queue (single messages).
func PriorityDispatcherGroup(provider string) string { return DispatcherGroup(provider) + ".priority" }

// PriorityDispatcherLoop is the config of the loop over one provider's priority queue.
// It is a loop of its own, with its own fetches, so a single message is
// read as soon as it is committed, whatever campaign work the provider's
// other loop has in hand; the two share the provider's budget
// (dispatch.Budget), priority first.
func PriorityDispatcherLoop(cfg Config, provider string, stage kafkalog.Stage) kafkalog.TxLoopConfig {
	return fairFetch(kafkalog.TxLoopConfig{Client: cfg.kafka(), Group: PriorityDispatcherGroup(provider),
		Topics: []string{kafkalog.PriorityDeliveryTopic(provider)}, Stateless: true,
		Stage: stage, Log: cfg.Log, InstanceID: cfg.InstanceID})
}

// LoadRules is the rules a configuration runs with, and each provider's
// link: Rules and Links where set, else what the file at RulesFile says,
// else the shipped rules (which have no links).
func (cfg Config) LoadRules() (plan.Rules, map[string]smsprovider.LinkConfig, error) {
	file := plan.DefaultRulesJSON()
	if cfg.RulesFile != "" && (cfg.Rules == nil || cfg.Links == nil) {
		b, err := os.ReadFile(cfg.RulesFile)
		if err != nil {
			return plan.Rules{}, nil, err
		}
		file = b
	}
	var rules plan.Rules
	if cfg.Rules != nil {
		rules = *cfg.Rules
	} else {
		r, err := plan.ParseRules(file)
		if err != nil {
			return plan.Rules{}, nil, cfg.fileErr(err)
		}
		rules = r
	}
	links := cfg.Links
	if links == nil {
		l, err := smsprovider.ParseLinks(file)
		if err != nil {
			return plan.Rules{}, nil, cfg.fileErr(err)
		}
		links = l
	}
	return rules, links, nil
}

// fileErr names the rules file in an error about it.
func (cfg Config) fileErr(err error) error {
	if cfg.RulesFile == "" {
		return err
	}
	return fmt.Errorf("%s: %w", cfg.RulesFile, err)
}

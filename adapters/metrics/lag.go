package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"ziett.co/campaigns/adapters/kafkalog"
)

// Projection is a read model whose lag is watched. Its offsets live in
// projection_offsets, not in Kafka, so kadm cannot see them.
type Projection struct {
	Name   string
	Group  string // the runner's consumer group, for the consumer_lag series
	Topics []string
}

// LagConfig says what the poller watches.
type LagConfig struct {
	Kafka *kgo.Client
	// Client builds the short-lived client that peeks at the first record
	// a projection has not applied.
	Client      kafkalog.ClientConfig
	DB          *pgxpool.Pool
	Groups      []string // consumer groups that commit to Kafka
	Projections []Projection
	// Interval between polls. Default: DefaultLagInterval.
	Interval time.Duration
	// Log receives failed polls. Default: slog.Default().
	Log *slog.Logger
}

// DefaultLagInterval is LagConfig.Interval's default.
const DefaultLagInterval = 5 * time.Second

// LagPoller measures, every Interval, how far each consumer group and each
// projection is behind the log, and exposes the last measurement.
type LagPoller struct {
	cfg LagConfig

	consumerDesc, projectionDesc, errorsDesc *prometheus.Desc

	mu         sync.Mutex
	consumer   []partitionLag
	projection map[string]float64
	measured   time.Time // when Poll last measured projection
	errors     float64
}

type partitionLag struct {
	group, topic string
	partition    int32
	lag          int64
}

// Lag creates a poller and registers its series; Run drives it.
func (m *Metrics) Lag(cfg LagConfig) *LagPoller {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultLagInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p := &LagPoller{
		cfg: cfg,
		consumerDesc: prometheus.NewDesc(Namespace+"_consumer_lag",
			"Records between a consumer group's committed position and the partition's end. A transactional "+
				"topic at rest shows 1 per written partition: the last commit marker.",
			[]string{"group", "topic", "partition"}, nil),
		projectionDesc: prometheus.NewDesc(Namespace+"_projection_lag_seconds",
			"Age of the oldest committed event a projection has not applied yet; 0 when caught up.",
			[]string{"projection"}, nil),
		errorsDesc: prometheus.NewDesc(Namespace+"_lag_poll_errors_total",
			"Lag polls that failed (Kafka or Postgres unreachable).", nil, nil),
		projection: map[string]float64{},
	}
	m.Registry.MustRegister(p)
	return p
}

func (p *LagPoller) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.consumerDesc
	ch <- p.projectionDesc
	ch <- p.errorsDesc
}

func (p *LagPoller) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.consumer {
		ch <- prometheus.MustNewConstMetric(p.consumerDesc, prometheus.GaugeValue, float64(l.lag),
			l.group, l.topic, strconv.Itoa(int(l.partition)))
	}
	for name, s := range p.projection {
		ch <- prometheus.MustNewConstMetric(p.projectionDesc, prometheus.GaugeValue, s, name)
	}
	ch <- prometheus.MustNewConstMetric(p.errorsDesc, prometheus.CounterValue, p.errors)
}

// Run polls until ctx is done.
func (p *LagPoller) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, p.cfg.Interval)
		err := p.Poll(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.cfg.Log.Warn("lag poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll measures once and replaces the exposed values.
func (p *LagPoller) Poll(ctx context.Context) error {
	adm := kadm.NewClient(p.cfg.Kafka)
	var consumer []partitionLag
	var errs []error
	if len(p.cfg.Groups) > 0 {
		lags, err := adm.Lag(ctx, p.cfg.Groups...)
		if err != nil {
			errs = append(errs, fmt.Errorf("group lag: %w", err))
		}
		for _, g := range lags {
			if g.Error() != nil {
				continue
			}
			for _, l := range g.Lag.Sorted() {
				if l.Err == nil {
					consumer = append(consumer, partitionLag{g.Group, l.Topic, l.Partition, l.Lag})
				}
			}
		}
	}
	projParts, projSecs, err := p.projections(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	consumer = append(consumer, projParts...)
	sort.Slice(consumer, func(i, j int) bool {
		a, b := consumer[i], consumer[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		return a.partition < b.partition
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(errs) > 0 {
		p.errors++
		// Keep the last good values rather than showing a partial picture.
		if len(consumer) == 0 {
			return errs[0]
		}
	}
	p.consumer = consumer
	if err == nil {
		p.projection, p.measured = projSecs, time.Now()
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// ProjectionLag is how far behind the log each projection is, as the age
// of the oldest committed event it has not applied. While Run polls, it is
// the last poll's measurement (at most two intervals old), so readiness
// probes cost no Kafka or Postgres round trips; otherwise it measures now.
func (p *LagPoller) ProjectionLag(ctx context.Context) (map[string]time.Duration, error) {
	p.mu.Lock()
	secs, fresh := p.projection, !p.measured.IsZero() && time.Since(p.measured) < 2*p.cfg.Interval
	p.mu.Unlock()
	if !fresh {
		var err error
		if _, secs, err = p.projections(ctx); err != nil {
			return nil, err
		}
	}
	out := make(map[string]time.Duration, len(secs))
	for n, s := range secs {
		out[n] = time.Duration(s * float64(time.Second))
	}
	return out, nil
}

// projections compares each projection's stored offsets with the
// partitions' last stable offsets (where a read_committed reader stops),
// and for partitions behind, peeks at the first unapplied record's time.
func (p *LagPoller) projections(ctx context.Context) ([]partitionLag, map[string]float64, error) {
	if len(p.cfg.Projections) == 0 {
		return nil, map[string]float64{}, nil
	}
	var topics []string
	names := make([]string, 0, len(p.cfg.Projections))
	for _, pr := range p.cfg.Projections {
		topics = append(topics, pr.Topics...)
		names = append(names, pr.Name)
	}
	ends, err := kadm.NewClient(p.cfg.Kafka).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, fmt.Errorf("list offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, nil, fmt.Errorf("list offsets: %w", err)
	}
	stored := map[string]map[string]map[int32]int64{}
	for _, name := range names {
		pos, err := storedOffsets(ctx, p.cfg.DB, name)
		if err != nil {
			return nil, nil, fmt.Errorf("projection %s offsets: %w", name, err)
		}
		stored[name] = pos
	}

	var parts []partitionLag
	type span struct{ from, end int64 }
	behind := map[string]map[string]map[int32]span{} // projection → topic → partition
	for _, pr := range p.cfg.Projections {
		for _, t := range pr.Topics {
			for part, o := range ends[t] {
				next := stored[pr.Name][t][part]
				lag := max(o.Offset-next, 0)
				parts = append(parts, partitionLag{pr.Group, t, part, lag})
				if lag > 0 {
					if behind[pr.Name] == nil {
						behind[pr.Name] = map[string]map[int32]span{}
					}
					if behind[pr.Name][t] == nil {
						behind[pr.Name][t] = map[int32]span{}
					}
					behind[pr.Name][t][part] = span{next, o.Offset}
				}
			}
		}
	}
	secs := make(map[string]float64, len(names))
	now := time.Now()
	for _, pr := range p.cfg.Projections {
		secs[pr.Name] = 0
		want := map[string]map[int32][2]int64{}
		for t, ps := range behind[pr.Name] {
			want[t] = map[int32][2]int64{}
			for part, s := range ps {
				want[t][part] = [2]int64{s.from, s.end}
			}
		}
		if len(want) == 0 {
			continue
		}
		oldest, err := firstUnapplied(ctx, p.cfg.Client, want)
		if err != nil {
			return nil, nil, fmt.Errorf("projection %s: %w", pr.Name, err)
		}
		if !oldest.IsZero() {
			secs[pr.Name] = max(now.Sub(oldest).Seconds(), 0)
		}
	}
	return parts, secs, nil
}

// firstUnapplied returns the oldest timestamp among the first data record
// of each partition in [from, end), or zero when the ranges hold only
// transaction markers. Markers occupy offsets, so an offset gap alone does
// not mean there is an event to apply.
func firstUnapplied(ctx context.Context, cc kafkalog.ClientConfig, want map[string]map[int32][2]int64) (time.Time, error) {
	start := map[string]map[int32]kgo.Offset{}
	pending := 0
	for t, ps := range want {
		start[t] = map[int32]kgo.Offset{}
		for part, r := range ps {
			start[t][part] = kgo.NewOffset().At(r[0])
			pending++
		}
	}
	cl, err := kafkalog.Client(cc,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumePartitions(start),
		// One batch per partition is all a peek needs.
		kgo.FetchMaxPartitionBytes(64<<10),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	var oldest time.Time
	done := map[string]map[int32]bool{}
	resolve := func(t string, part int32) {
		if done[t] == nil {
			done[t] = map[int32]bool{}
		}
		if !done[t][part] {
			done[t][part] = true
			pending--
			cl.PauseFetchPartitions(map[string][]int32{t: {part}})
		}
	}
	for pending > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if err := fs.Err(); err != nil {
			return time.Time{}, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if done[r.Topic][r.Partition] {
				return
			}
			end := want[r.Topic][r.Partition][1]
			switch {
			case r.Attrs.IsControl():
				if r.Offset >= end-1 {
					resolve(r.Topic, r.Partition)
				}
			case r.Offset >= end:
				resolve(r.Topic, r.Partition)
			default:
				if oldest.IsZero() || r.Timestamp.Before(oldest) {
					oldest = r.Timestamp
				}
				resolve(r.Topic, r.Partition)
			}
		})
	}
	return oldest, nil
}

// storedOffsets reads a projection's position: the next offset per topic
// and partition, kept beside its rows in the schema of its live generation
// (read_models), or in public for a projection without generations.
func storedOffsets(ctx context.Context, db *pgxpool.Pool, name string) (map[string]map[int32]int64, error) {
	schema := "public"
	err := db.QueryRow(ctx, `SELECT schema_name FROM read_models WHERE name = $1`, name).Scan(&schema)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT topic, partition, next_offset FROM `+
		pgx.Identifier{schema, "projection_offsets"}.Sanitize()+` WHERE projection = $1`, name)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	var topic string
	var part int32
	var next int64
	_, err = pgx.ForEachRow(rows, []any{&topic, &part, &next}, func() error {
		if out[topic] == nil {
			out[topic] = map[int32]int64{}
		}
		out[topic][part] = next
		return nil
	})
	return out, err
}

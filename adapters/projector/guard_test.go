package projector_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/projections/campaigns"
)

// gate holds a projector between reading a batch and opening the
// transaction that applies it, as a long GC pause or a stalled network
// would: its next connection acquisition blocks once armed.
type gate struct {
	armed    atomic.Bool
	blocked  chan struct{}
	open     chan struct{}
	opened   atomic.Bool
	released atomic.Int32 // connections returned since the gate opened
}

func (g *gate) prepare(ctx context.Context, _ *pgx.Conn) (bool, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.blocked)
		select {
		case <-g.open:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return true, nil
}

func (g *gate) afterRelease(*pgx.Conn) bool {
	if g.opened.Load() {
		g.released.Add(1)
	}
	return true
}

// A projector that read a batch, stalled, and found on waking that another
// projector had applied those records and moved the partition's offset on
// must not apply them again: the offset guard (the update conditioned on
// the offset it last saw) fails its transaction, and it rewinds to the
// stored position. Every record is applied exactly once.
func TestStaleProjectorAppliesNothing(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	if _, err := e.Stack.DB.Exec(t.Context(), `CREATE TABLE applied_records (topic text, partition int, "offset" bigint)`); err != nil {
		t.Fatal(err)
	}
	g := &gate{blocked: make(chan struct{}), open: make(chan struct{})}
	cfg, err := pgxpool.ParseConfig(e.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error { postgres.RegisterUUID(c.TypeMap()); return nil }
	cfg.PrepareConn = g.prepare
	cfg.AfterRelease = g.afterRelease
	stalePool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stalePool.Close()

	var wg sync.WaitGroup
	start := func(pool *pgxpool.Pool, opts ...kgo.Opt) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		r := newRunner(e, projector.RunnerConfig{Client: kafkalog.ClientConfig{Brokers: e.Brokers, Opts: append(e.Cfg.ClientOpts, opts...)},
			Pool: pool, Projection: counted{campaigns.Projection{Log: e.Cfg.Log}}, Log: e.Cfg.Log})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				t.Errorf("projector: %v", err)
			}
		}()
		return cancel
	}
	defer wg.Wait()
	applied := func() (n, twice int) {
		t.Helper()
		if err := e.Stack.DB.QueryRow(t.Context(), `SELECT count(*),
			(SELECT count(*) FROM (SELECT 1 FROM applied_records GROUP BY topic, partition, "offset" HAVING count(*) > 1) d)
			FROM applied_records`).Scan(&n, &twice); err != nil {
			t.Fatal(err)
		}
		return n, twice
	}
	waitApplied := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, _ := applied()
			if n >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d records applied, want %d", n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	stopStale := start(stalePool)
	defer stopStale()
	for range 3 {
		accept(t, e, "before the stall", 5)
	}
	waitApplied(len(e.Events(kafkalog.OrgEvents, nil)))

	// The stale projector reads the next records and stalls before its
	// transaction.
	g.armed.Store(true)
	for range 3 {
		accept(t, e, "during the stall", 5)
	}
	select {
	case <-g.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the projector never read the new records")
	}
	// Another projector (its own group, so the stalled one need not be
	// evicted first) applies them and moves the offset on.
	onLog := len(e.Events(kafkalog.OrgEvents, nil))
	stopOther := start(e.Stack.DB, kgo.ConsumerGroup(projector.Group("campaigns")+".takeover"))
	waitApplied(onLog)
	stopOther()

	// The stale one wakes with its batch in hand.
	g.opened.Store(true)
	close(g.open)
	deadline := time.Now().Add(30 * time.Second)
	for g.released.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled batch never finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, twice := applied(); n != onLog || twice != 0 {
		t.Fatalf("%d records applied (%d more than once), %d on the log", n, twice, onLog)
	}
	// The stored position is the log's end, not the stale batch's idea of it.
	ends, err := kadm.NewClient(e.Stack.Kafka).ListEndOffsets(t.Context(), kafkalog.OrgEvents)
	if err != nil {
		t.Fatal(err)
	}
	schema := liveSchema(t, e)
	ends.Each(func(o kadm.ListedOffset) {
		var next int64
		err := e.Stack.DB.QueryRow(t.Context(), `SELECT COALESCE(max(next_offset), 0) FROM `+schema+`.projection_offsets
			WHERE projection = 'campaigns' AND topic = $1 AND partition = $2`, o.Topic, o.Partition).Scan(&next)
		if err != nil {
			t.Fatal(err)
		}
		if next != o.Offset {
			t.Errorf("%s/%d: stored next offset %d, log end %d", o.Topic, o.Partition, next, o.Offset)
		}
	})
}

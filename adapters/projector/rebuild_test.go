package projector_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/campaigns"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

// accept appends a CampaignAccepted to the log as the command endpoint
// would (without its rate limit), with size valid recipients.
func accept(t *testing.T, e *servicetest.Env, name string, size int) uuid.UUID {
	t.Helper()
	rcpts := make([]string, size)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("+2449900%05d", i)
	}
	id := uuid.Must(uuid.NewV7())
	env, err := events.New(uuid.Must(uuid.NewV7()), e.Demo.OrgID, id, events.CampaignAcceptedV1{
		Name: name, Content: "Hello from the replay tests", ChannelType: "SMS", CountryAlpha2: "AO",
		RemitterID: e.Demo.RemitterID, SenderName: "ZIETT", Recipients: rcpts, Currency: "AOA",
	}, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Stack.Kafka.ProduceSync(context.Background(), kafkalog.Encode(kafkalog.OrgEvents, e.Demo.OrgID, env)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitFinished waits until want campaigns are COMPLETED or FAILED and no
// message is still queued in the read model.
func waitFinished(t *testing.T, e *servicetest.Env, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var done, queued int
	for time.Now().Before(deadline) {
		err := e.Stack.DB.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM campaigns WHERE status IN ('COMPLETED', 'FAILED')),
			(SELECT count(*) FROM messages WHERE status = 'QUEUED')`).Scan(&done, &queued)
		if err != nil {
			t.Fatal(err)
		}
		if done >= want && queued == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%d of %d campaigns finished, %d messages still queued", done, want, queued)
}

// snapshot is every row of the read model as readers see it.
func snapshot(t *testing.T, e *servicetest.Env) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT row_to_json(c)::text FROM campaigns c ORDER BY campaign_id`,
		`SELECT row_to_json(m)::text FROM messages m ORDER BY campaign_id, idx`,
	} {
		rows, err := e.Stack.DB.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	return out
}

func rebuilderConfig(e *servicetest.Env) projector.RebuilderConfig {
	return projector.RebuilderConfig{Pool: e.Stack.DB, Client: kafkalog.ClientConfig{Brokers: e.Brokers, Opts: e.Cfg.ClientOpts},
		Projection: campaigns.Projection{Log: e.Cfg.Log}, Log: e.Cfg.Log, MaxBatch: 500}
}

func rebuilder(e *servicetest.Env) *projector.Rebuilder { return newRebuilder(e, rebuilderConfig(e)) }

func newRebuilder(e *servicetest.Env, c projector.RebuilderConfig) *projector.Rebuilder {
	e.T.Helper()
	rb, err := projector.NewRebuilder(c)
	if err != nil {
		e.T.Fatal(err)
	}
	return rb
}

func newRunner(e *servicetest.Env, c projector.RunnerConfig) *projector.Runner {
	e.T.Helper()
	r, err := projector.NewRunner(c)
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}

func liveSchema(t *testing.T, e *servicetest.Env) string {
	t.Helper()
	var s string
	if err := e.Stack.DB.QueryRow(context.Background(), `SELECT schema_name FROM read_models WHERE name = 'campaigns'`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A rebuild after a finished workload yields the read model it replaces,
// row for row, while readers keep being served; verify finds no
// difference then, and finds one made behind the projector's back.
func TestRebuildReproducesTheReadModel(t *testing.T) {
	e := servicetest.Start(t)
	req := e.SeedRequest()
	req["recipients"] = []string{"+244990000001", "+244990000002", "990000003", "+244990000001", "+999 1234567"}
	first := e.Submit(req)
	for i := range 4 {
		accept(t, e, fmt.Sprintf("Bulk %d", i), 120)
	}
	failing := e.Submit(map[string]any{"name": "Nobody", "remitter_id": e.Demo.RemitterID.String(), "channel_type": "SMS",
		"country_alpha2": "AO", "content": "x", "recipients": []string{"+999 1234567", "+999 7654321"}})
	waitFinished(t, e, 6)
	before := snapshot(t, e)
	if len(before) < 6+5+4*120+2 {
		t.Fatalf("read model holds only %d rows", len(before))
	}

	rep, err := rebuilder(e).Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || len(rep.Tables) != 3 { // campaigns, messages, suppressions
		t.Fatalf("verify after a finished workload:\n%s", rep)
	}

	// A change no event explains is a difference.
	if _, err := e.Stack.DB.Exec(t.Context(), `UPDATE campaigns SET name = 'tampered' WHERE campaign_id = $1`, first); err != nil {
		t.Fatal(err)
	}
	rep, err = rebuilder(e).Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clean() || rep.Tables[0].Table != "campaigns" || rep.Tables[0].OnlyLive != 1 || rep.Tables[0].OnlyReplayed != 1 {
		t.Fatalf("verify missed a tampered row:\n%s", rep)
	}
	if _, err := e.Stack.DB.Exec(t.Context(), `UPDATE campaigns SET name = $2 WHERE campaign_id = $1`, first, req["name"]); err != nil {
		t.Fatal(err)
	}

	// Readers keep getting answers through the rebuild and its switch.
	stop := make(chan struct{})
	var served, failed atomic.Int64
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, p := range []string{"/c/v1/campaigns/" + first.String(), "/c/v1/campaigns?limit=5", "/c/v1/campaigns/" + failing.String() + "/messages"} {
					req, _ := http.NewRequest(http.MethodGet, e.BaseURL+p, nil)
					req.Header.Set("X-API-KEY", e.Demo.APIKey)
					resp, err := e.HTTP.Do(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						failed.Add(1)
					} else {
						served.Add(1)
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			}
		}()
	}
	var progress []projector.Progress
	c := rebuilderConfig(e)
	c.Progress = func(p projector.Progress) { progress = append(progress, p) }
	res, err := newRebuilder(e, c).Rebuild(t.Context())
	close(stop)
	readers.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != 2 || res.Schema != "rm_campaigns_2" || liveSchema(t, e) != "rm_campaigns_2" {
		t.Fatalf("rebuild made %+v live; read_models says %s", res, liveSchema(t, e))
	}
	if failed.Load() != 0 || served.Load() == 0 {
		t.Fatalf("during the rebuild %d reads failed, %d were served", failed.Load(), served.Load())
	}
	if len(progress) == 0 || progress[len(progress)-1].Done == 0 {
		t.Fatalf("no progress reported: %+v", progress)
	}
	after := snapshot(t, e)
	if !slices.Equal(before, after) {
		for i := range min(len(before), len(after)) {
			if before[i] != after[i] {
				t.Fatalf("rebuilt read model differs at row %d:\n live:    %s\n rebuilt: %s", i, before[i], after[i])
			}
		}
		t.Fatalf("rebuilt read model has %d rows, live had %d", len(after), len(before))
	}
	var oldLeft bool
	if err := e.Stack.DB.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'rm_campaigns_1')`).Scan(&oldLeft); err != nil || oldLeft {
		t.Fatalf("old generation still there: %v %v", oldLeft, err)
	}
}

// A rebuild while campaigns are being sent and projected switches without
// losing or doubling anything: the live projector carries on in the new
// generation from where the rebuild left it.
func TestRebuildWhileTheProjectorWrites(t *testing.T) {
	e := servicetest.Start(t)
	n := 0
	for range 3 {
		accept(t, e, "Before", 100)
		n++
	}
	stop := make(chan struct{})
	var appended sync.WaitGroup
	var during atomic.Int64
	appended.Add(1)
	go func() {
		defer appended.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				accept(t, e, "During", 50)
				during.Add(1)
			}
		}
	}()
	c := rebuilderConfig(e)
	c.SwitchLag = 10
	res, err := newRebuilder(e, c).Rebuild(t.Context())
	close(stop)
	appended.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if during.Load() == 0 {
		t.Fatal("no campaign arrived during the rebuild")
	}
	n += int(during.Load())
	after := accept(t, e, "After", 10)
	n++
	waitFinished(t, e, n)
	if got := e.WaitStatus(after, 30*time.Second, "COMPLETED"); got["messages"].(map[string]any)["sent"] != 10.0 {
		t.Fatalf("campaign after the switch: %v", got["messages"])
	}
	var total, sent int
	if err := e.Stack.DB.QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE status = 'SENT') FROM messages`).Scan(&total, &sent); err != nil {
		t.Fatal(err)
	}
	if want := 3*100 + int(during.Load())*50 + 10; total != want || sent != want {
		t.Fatalf("%d messages (%d sent) in generation %d, want %d", total, sent, res.Generation, want)
	}
	rep, err := rebuilder(e).Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Fatalf("verify after a rebuild under load:\n%s", rep)
	}
}

// counted records, in the batch's transaction, every record it applies:
// a record applied twice in committed transactions shows up twice.
type counted struct{ campaigns.Projection }

func (c counted) Apply(ctx context.Context, tx pgx.Tx, recs []events.Message) error {
	topics, parts, offs := make([]string, len(recs)), make([]int32, len(recs)), make([]int64, len(recs))
	for i, r := range recs {
		topics[i], parts[i], offs[i] = r.At.Log, r.At.Shard, r.At.Offset
	}
	if _, err := tx.Exec(ctx, `INSERT INTO applied_records SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])`,
		topics, parts, offs); err != nil {
		return err
	}
	return c.Projection.Apply(ctx, tx, recs)
}

// Projectors that join and leave the group mid-workload hand partitions
// over through the offsets stored beside the rows: every record is applied
// exactly once, and the result equals a replay of the log.
func TestProjectorHandOverIsExactlyOnce(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API, service.Processor, service.Dispatcher, service.Completion))
	if _, err := e.Stack.DB.Exec(t.Context(), `CREATE TABLE applied_records (topic text, partition int, "offset" bigint)`); err != nil {
		t.Fatal(err)
	}
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		r := newRunner(e, projector.RunnerConfig{Client: kafkalog.ClientConfig{Brokers: e.Brokers, Opts: e.Cfg.ClientOpts},
			Pool: e.Stack.DB, Projection: counted{campaigns.Projection{Log: e.Cfg.Log}}, Log: e.Cfg.Log, MaxBatch: 40})
		go func() {
			done <- r.Run(ctx)
		}()
		var once sync.Once
		return func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("projector: %v", err)
				}
			})
		}
	}
	const size = 60
	n := 0
	batch := func(k int) {
		for range k {
			accept(t, e, fmt.Sprintf("Churn %d", n), size)
			n++
		}
	}
	// Each change of membership happens while campaigns are in flight.
	stopA := start()
	defer stopA()
	batch(3)
	waitFinished(t, e, 1)
	stopB := start()
	defer stopB()
	batch(3)
	waitFinished(t, e, 4)
	stopA()
	batch(2)
	waitFinished(t, e, 6)
	stopC := start()
	defer stopC()
	stopB()
	waitFinished(t, e, n)

	var total, sent int
	if err := e.Stack.DB.QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE status = 'SENT') FROM messages`).Scan(&total, &sent); err != nil {
		t.Fatal(err)
	}
	if total != n*size || sent != total {
		t.Fatalf("%d messages, %d sent; want %d", total, sent, n*size)
	}
	onLog := len(e.Events(kafkalog.OrgEvents, nil)) + len(e.Events(kafkalog.MessageEvents, nil))
	var applied, twice int
	if err := e.Stack.DB.QueryRow(t.Context(), `SELECT count(*),
			(SELECT count(*) FROM (SELECT 1 FROM applied_records GROUP BY topic, partition, "offset" HAVING count(*) > 1) d)
		FROM applied_records`).Scan(&applied, &twice); err != nil {
		t.Fatal(err)
	}
	if twice != 0 || applied != onLog {
		t.Fatalf("%d records applied (%d of them more than once), %d on the log", applied, twice, onLog)
	}
	rep, err := rebuilder(e).Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Fatalf("read model after hand-overs differs from a replay:\n%s", rep)
	}
}

package projections_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/stack"
	"ziett.co/campaigns/adapters/stack/stacktest"
	"ziett.co/campaigns/projections"
)

// probe is a projection that writes every record's value in one statement
// for the whole batch, as the real ones do, and fails in each way a record
// can make it fail: a panic, an error it marks as the record's, and a
// value PostgreSQL refuses.
type probe struct{}

func (probe) Name() string     { return "probe" }
func (probe) Topics() []string { return []string{"probe"} }
func (probe) Apply(ctx context.Context, tx pgx.Tx, recs []*kgo.Record) error {
	vals := make([]string, len(recs))
	for i, r := range recs {
		switch string(r.Value) {
		case "panic":
			panic("probe cannot apply this")
		case "undecodable":
			return projections.Poison(errors.New("probe cannot decode this"))
		}
		vals[i] = string(r.Value)
	}
	_, err := tx.Exec(ctx, `INSERT INTO probe_rows SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, vals)
	return err
}

// A batch with bad records in it commits its good records and its offset,
// and only the bad ones are parked, whatever way they fail.
func TestOnlyTheBadRecordsOfABatchAreParked(t *testing.T) {
	e := stacktest.Start(t, stacktest.WithComponents(stack.API))
	ctx := t.Context()
	if _, err := e.Stack.DB.Exec(ctx, `CREATE TABLE probe_rows (v text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(e.Stack.Kafka).CreateTopic(ctx, 1, 1, nil, "probe"); err != nil {
		t.Fatal(err)
	}
	bad := map[int]string{7: "panic", 23: "nul\x00", 41: "undecodable"}
	var recs []*kgo.Record
	var good []string
	for i := range 50 {
		v := fmt.Sprintf("good %02d", i)
		if b, ok := bad[i]; ok {
			v = b
		} else {
			good = append(good, v)
		}
		recs = append(recs, &kgo.Record{Topic: "probe", Value: []byte(v)})
	}
	// Produced before the runner starts, so its first batch holds them all.
	if err := e.Stack.Kafka.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var hooked []string
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- (&projections.Runner{Brokers: e.Brokers, Pool: e.Stack.DB, Projection: probe{}, ClientOpts: e.Cfg.ClientOpts,
			Parked: func(p string) { mu.Lock(); hooked = append(hooked, p); mu.Unlock() }}).Run(rctx)
	}()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(30 * time.Second)
	var next int64
	for {
		err := e.Stack.DB.QueryRow(ctx, `SELECT coalesce(max(next_offset), 0) FROM projection_offsets WHERE projection = 'probe'`).Scan(&next)
		if err != nil {
			t.Fatal(err)
		}
		if next == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe projection reached offset %d of 50", next)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows, err := e.Stack.DB.Query(ctx, `SELECT v FROM probe_rows ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !slices.Equal(applied, good) {
		t.Fatalf("applied %d rows %v (%v), want the %d good ones", len(applied), applied, err, len(good))
	}
	parked, err := projections.ListParked(ctx, e.Stack.DB, projections.ParkedFilter{Projection: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != len(bad) {
		t.Fatalf("%d parked, want %d", len(parked), len(bad))
	}
	wantErr := map[int64]string{7: "panic: probe cannot apply this", 23: "SQLSTATE 22021", 41: "probe cannot decode this"}
	for _, p := range parked {
		if want := wantErr[p.Offset]; want == "" || !strings.Contains(p.Error, want) || string(p.Record.Value) != bad[int(p.Offset)] {
			t.Errorf("parked offset %d value %q error %q", p.Offset, p.Record.Value, p.Error)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != len(bad) {
		t.Errorf("the Parked hook was told %d times, want %d", len(hooked), len(bad))
	}
}

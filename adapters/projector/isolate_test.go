package projector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections"
)

// probe is a projection of the receipts stream that writes every
// receipt's raw text in one statement for the whole batch, as the real ones
// do, and fails in each way a record can make it fail: a record that does
// not decode, a panic, an error it marks as the event's, and a value
// PostgreSQL refuses.
type probe struct{}

func (probe) Name() string             { return "probe" }
func (probe) Streams() []events.Stream { return []events.Stream{events.Receipts} }
func (probe) Apply(ctx context.Context, tx pgx.Tx, in []events.Message) error {
	vals := make([]string, len(in))
	for i, m := range in {
		switch m.Receipt.Raw {
		case "panic":
			panic("probe cannot apply this")
		case "poison":
			return projections.Poison(errors.New("probe refuses this"))
		}
		vals[i] = m.Receipt.Raw
	}
	_, err := tx.Exec(ctx, `INSERT INTO probe_rows SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, vals)
	return err
}

// A batch with bad records in it commits its good records and its offset,
// and only the bad ones are parked, whatever way they fail.
func TestOnlyTheBadRecordsOfABatchAreParked(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	ctx := t.Context()
	if _, err := e.Stack.DB.Exec(ctx, `CREATE TABLE probe_rows (v text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	bad := map[int]string{7: "panic", 23: "nul\x00", 31: "poison", 41: "undecodable"}
	var recs []*kgo.Record
	var good []string
	campaign := uuid.New()
	for i := range 50 {
		v := fmt.Sprintf("good %02d", i)
		if b, ok := bad[i]; ok {
			v = b
		} else {
			good = append(good, v)
		}
		// One campaign: one key, so all in one partition, in order.
		r, err := kafkalog.EncodeMessage(events.OfReceipt(events.Receipt{MessageID: uuid.New(), CampaignID: campaign,
			OrgID: uuid.New(), Parts: 1, Stat: "DELIVRD", Raw: v}))
		if err != nil {
			t.Fatal(err)
		}
		if v == "undecodable" {
			r.Value = []byte(v)
		}
		recs = append(recs, r)
	}
	// Produced before the runner starts, so its first batch holds them all.
	if err := e.Stack.Kafka.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var hooked []string
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	r := newRunner(e, projector.RunnerConfig{Client: kafkalog.ClientConfig{Brokers: e.Brokers, Opts: e.Cfg.ClientOpts},
		Pool: e.Stack.DB, Projection: probe{},
		Parked: func(p string) { mu.Lock(); hooked = append(hooked, p); mu.Unlock() }})
	go func() {
		done <- r.Run(rctx)
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
	parked, err := projector.ListParked(ctx, e.Stack.DB, projector.ParkedFilter{Projection: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != len(bad) {
		t.Fatalf("%d parked, want %d", len(parked), len(bad))
	}
	wantErr := map[int64]string{7: "panic: probe cannot apply this", 23: "SQLSTATE 22021", 31: "probe refuses this", 41: "receipt " + kafkalog.Receipts}
	for _, p := range parked {
		if want := wantErr[p.Offset]; want == "" || !strings.Contains(p.Error, want) || !bytes.Equal(p.Record.Value, recs[p.Offset].Value) {
			t.Errorf("parked offset %d value %q error %q", p.Offset, p.Record.Value, p.Error)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != len(bad) {
		t.Errorf("the Parked hook was told %d times, want %d", len(hooked), len(bad))
	}
}

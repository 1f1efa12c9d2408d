package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/ledger"
)

// The operator commands against a real PostgreSQL: `parked` lists what the
// projectors parked (text and --json, the event decoded when it is one),
// `retry-parked` refuses to guess what to retry, applies what now applies
// and removes it, and fails while something still cannot be applied.
func TestParkedCommands(t *testing.T) {
	pg, cleanup, err := pgcluster.SharedForTests()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, err := pg.FreshDatabase(ctx, "parked")
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	// Two events the ledger parked: a credit that applies once retried,
	// and a record that is no event at all.
	org := uuid.Must(uuid.NewV7())
	env, err := events.New(uuid.Must(uuid.NewV7()), org, uuid.Nil, events.FundsCreditedV1{Amount: 5000, Currency: "AOA", Reference: "top-up"},
		time.Now(), "", uuid.Nil, "admin")
	if err != nil {
		t.Fatal(err)
	}
	credit := kafkalog.Encode(kafkalog.OrgEvents, org, env)
	park := func(offset int64, r *kgo.Record, cause string) {
		var hk, hv [][]byte
		for _, h := range r.Headers {
			hk, hv = append(hk, []byte(h.Key)), append(hv, h.Value)
		}
		if hk == nil {
			hk, hv = [][]byte{}, [][]byte{}
		}
		if _, err := db.Exec(ctx, `INSERT INTO parked_events (projection, topic, "partition", "offset", record_key, record_value,
				header_keys, header_values, record_time, error) VALUES ($1, $2, 3, $3, $4, $5, $6, $7, now(), $8)`,
			ledger.Name, kafkalog.OrgEvents, offset, r.Key, r.Value, hk, hv, cause); err != nil {
			t.Fatal(err)
		}
	}
	park(41, credit, "ERROR: could not extend file (SQLSTATE 53100)")
	park(42, &kgo.Record{Key: []byte("junk"), Value: []byte("not an event")}, "record is not an event")

	connect := func(ctx context.Context) (*pgxpool.Pool, error) { return postgres.Open(ctx, dbURL) }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := parkedMain(ctx, args, &out, log, connect)
		return out.String(), err
	}

	out, err := run("parked")
	if err != nil || !strings.Contains(out, "FundsCredited") || !strings.Contains(out, org.String()) ||
		!strings.Contains(out, kafkalog.OrgEvents+"/3@42") || !strings.Contains(out, "SQLSTATE 53100") {
		t.Fatalf("parked: %v\n%s", err, out)
	}
	out, err = run("parked", "--json", "ledger")
	var listed []struct {
		ID        int64  `json:"id"`
		Offset    int64  `json:"offset"`
		EventType string `json:"event_type"`
		OrgID     string `json:"org_id"`
		Value     []byte `json:"value"`
		Attempts  int    `json:"attempts"`
	}
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 ||
		listed[0].EventType != "FundsCredited" || listed[0].OrgID != org.String() || string(listed[1].Value) != "not an event" {
		t.Fatalf("parked --json: %v\n%s", err, out)
	}

	for _, args := range [][]string{
		{"retry-parked"},
		{"retry-parked", "--all", "--id", "1"},
		{"retry-parked", "--id", "x"},
		{"parked", "nosuchprojection"},
	} {
		if out, err := run(args...); err == nil {
			t.Errorf("%v accepted:\n%s", args, out)
		}
	}

	out, err = run("retry-parked", "--all")
	if err == nil || !strings.Contains(out, "1 applied, 1 still parked") {
		t.Fatalf("retry-parked --all: %v\n%s", err, out)
	}
	var balance int64
	if err := db.QueryRow(ctx, `SELECT balance FROM ledger_accounts WHERE org_id = $1`, org).Scan(&balance); err != nil || balance != 5000 {
		t.Fatalf("balance after the retry: %d, %v", balance, err)
	}
	out, err = run("parked", "--json")
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0].Offset != 42 || listed[0].Attempts != 2 {
		t.Fatalf("parked after the retry: %v\n%s", err, out)
	}
	// Retrying what applied already changes nothing.
	out, err = run("retry-parked", "--id", "1")
	if err != nil || !strings.Contains(out, "0 applied, 0 still parked") {
		t.Fatalf("retry-parked of an id no longer parked: %v\n%s", err, out)
	}
}

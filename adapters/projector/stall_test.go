package projector_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/projections/campaigns"
)

// openTransaction leaves a transaction open on partition 0 of topic with
// one record in it, after committed ones: the broker's end offset is then
// past what a read_committed consumer can read. It returns the end offset.
func openTransaction(t *testing.T, brokers []string, topic string, committed int) int64 {
	t.Helper()
	ctx := t.Context()
	plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for range committed {
		if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("committed")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID("left-open-"+t.Name()), kgo.TransactionTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Close)
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte("never committed")}
	if err := tx.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return r.Offset + 1
}

// A verify whose target the log cannot deliver (the live projector's
// position is past records a read_committed consumer does not get, here
// those of a transaction left open) finishes with an error that says
// which partition it waited on, from where and up to where, instead of
// waiting for ever.
func TestVerifyReportsAStall(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	end := openTransaction(t, e.Brokers, kafkalog.OrgEvents, 2)

	var schema string
	if err := e.Stack.DB.QueryRow(ctx, `SELECT schema_name FROM read_models WHERE name = 'campaigns'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stack.DB.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "projection_offsets"}.Sanitize()+
		` (projection, topic, partition, next_offset) VALUES ('campaigns', $1, 0, $2)`, kafkalog.OrgEvents, end); err != nil {
		t.Fatal(err)
	}
	rb := newRebuilder(e, projector.RebuilderConfig{Pool: e.Stack.DB, Client: kafkalog.ClientConfig{Brokers: e.Brokers},
		Projection: campaigns.Projection{}, StallTimeout: 2 * time.Second})
	_, err := rb.Verify(ctx)
	var stall *projector.StallError
	if !errors.As(err, &stall) {
		t.Fatalf("verify returned %v, want a stall", err)
	}
	want := projector.PartitionWait{Topic: kafkalog.OrgEvents, Partition: 0, Position: end - 1, Target: end}
	if len(stall.Waiting) != 1 || stall.Waiting[0] != want {
		t.Fatalf("stall waiting on %+v, want %+v", stall.Waiting, want)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%s/0 from offset %d up to %d", kafkalog.OrgEvents, end-1, end)) {
		t.Fatalf("the error does not say what it waited for: %s", msg)
	}
}

package projector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"ziett.co/campaigns/adapters/kafkalog"
)

// The catch-up's read of exact ranges stops with a StallError when the
// last records of a range never arrive (here: in a transaction left
// open), naming the partition, how far it got and its target.
func TestReadRangesReportsAStall(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "stall"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "stall", Value: []byte("committed")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tx, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID("left-open"), kgo.TransactionTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Topic: "stall", Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var got int
	err = readRanges(ctx, kafkalog.ClientConfig{Brokers: brokers}, time.Second, map[string]map[int32][2]int64{"stall": {0: {0, 2}}},
		func(recs []*kgo.Record) error { got += len(recs); return nil })
	var stall *StallError
	if !errors.As(err, &stall) || stall.Phase != "catch-up" {
		t.Fatalf("readRanges returned %v, want a stall of the catch-up", err)
	}
	if want := (PartitionWait{Topic: "stall", Partition: 0, Position: 1, Target: 2}); len(stall.Waiting) != 1 || stall.Waiting[0] != want || got != 1 {
		t.Fatalf("stall %+v after %d records, want %+v after 1", stall.Waiting, got, want)
	}
}

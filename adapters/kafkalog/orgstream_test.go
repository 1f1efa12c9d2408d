package kafkalog_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

// PartitionOf names the partition the appender's client writes an
// organisation's events to.
func TestPartitionOfMatchesProducer(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, kafkalog.OrgEvents))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for range 50 {
		org := uuid.Must(uuid.NewV7())
		env, _ := events.New(uuid.New(), org, uuid.Nil, events.FundsCreditedV1{Amount: 1}, time.Now(), "", uuid.Nil, "test")
		res := cl.ProduceSync(t.Context(), kafkalog.Encode(kafkalog.OrgEvents, org, env))
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		if got, want := kafkalog.PartitionOf(org, 8), res[0].Record.Partition; got != want {
			t.Fatalf("org %s: PartitionOf says %d, the producer wrote to %d", org, got, want)
		}
	}
}

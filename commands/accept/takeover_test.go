package accept

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

// A retry that takes over a lapsed Idempotency-Key claim decides from the
// log whether the dead holder appended, not from the ledger alone: here the
// ledger has applied nothing (a projector that is behind or down), so only
// reading the log past its position finds the campaign. Trusting the
// ledger would append the campaign a second time.
func TestTakeOverReadsTheLogPastALaggingLedger(t *testing.T) {
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
	claims := &memClaims{rows: map[string]*Claim{}}
	s := service(fixedLedger{balance: 1 << 40}, claims, nil)
	s.Log = kafkalog.NewAppender(cl)
	s.Stream = kafkalog.OrgStream{Client: cl, Brokers: c.ListenAddrs()}
	org := uuid.Must(uuid.NewV7())
	caller := Caller{OrgID: org}
	req := request(t)

	// dead leaves a claim whose holder died, its lease over, after (or
	// before) appending its CampaignAccepted.
	dead := func(key string, appended bool) uuid.UUID {
		t.Helper()
		cl, err := claims.Claim(t.Context(), Claim{OrgID: org, Key: key, RequestHash: RequestHash(req),
			CampaignID: uuid.Must(uuid.NewV7()), EventID: uuid.Must(uuid.NewV7())}, 0, time.Hour)
		if err != nil || !cl.Mine {
			t.Fatalf("claim: %+v %v", cl, err)
		}
		if appended {
			if err := s.append(t.Context(), caller, cl.CampaignID, cl.EventID, events.CampaignAcceptedV1{
				Name: req.Name, Content: req.Content, ChannelType: req.ChannelType, CountryAlpha2: req.CountryAlpha2,
				RemitterID: req.RemitterID, SenderName: "ZIETT", Recipients: req.Recipients, Currency: "AOA"}); err != nil {
				t.Fatal(err)
			}
		}
		return cl.CampaignID
	}
	accepted := func(id uuid.UUID) int {
		t.Helper()
		p := kafkalog.PartitionOf(org, 8)
		ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), kafkalog.OrgEvents)
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup(kafkalog.OrgEvents, p)
		n := 0
		if _, err := kafkalog.ReadPartition(t.Context(), c.ListenAddrs(), kafkalog.OrgEvents, p, 0, end.Offset, func(r *kgo.Record) {
			if e, err := kafkalog.Decode(r); err == nil && e.Type == events.CampaignAccepted && e.CampaignID == id {
				n++
			}
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, tc := range []struct {
		name     string
		appended bool
	}{
		{"holder appended before dying: the retry replays it", true},
		{"holder died before appending: the retry appends it", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.name
			id := dead(key, tc.appended)
			res, err := s.Accept(t.Context(), caller, req, key)
			if err != nil {
				t.Fatal(err)
			}
			if res.CampaignID != id || res.Replayed != tc.appended {
				t.Fatalf("retry got %+v, want campaign %s replayed=%v", res, id, tc.appended)
			}
			if n := accepted(id); n != 1 {
				t.Fatalf("the log holds %d CampaignAccepted for the campaign, want 1", n)
			}
			if claims.rows[key].State != ClaimDone {
				t.Fatalf("claim left %s", claims.rows[key].State)
			}
		})
	}
}

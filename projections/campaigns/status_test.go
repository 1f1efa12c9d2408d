package campaigns_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/campaigns"
)

// The read model moves a campaign's status exactly as the state machine of
// domain/campaign says, from every status, and announces what the machine
// says the event announces: the statements' guards and the announcements
// are the machine's, not a second copy of it.
func TestStatusMovesFollowTheStateMachine(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	payloads := []events.Payload{
		events.CampaignAcceptedV1{Name: "again", Content: "Hi", ChannelType: "SMS", CountryAlpha2: "AO",
			RemitterID: f.e.Demo.RemitterID, SenderName: "ZIETT", Recipients: []string{"+244923000001"}, Currency: "AOA"},
		events.CampaignScheduledV1{SendAt: f.at.Add(time.Hour)},
		events.CampaignReleasedV1{ReleasedAt: f.at},
		events.MessagesEnqueuedV1{Total: 0, ByProvider: map[string]int{}},
		events.CampaignPausedV1{},
		events.CampaignResumedV1{},
		events.CampaignCancelledV1{},
		events.CampaignCompletedV1{},
		events.CampaignFailedV1{Code: "BILLING_INSUFFICIENT_FUNDS", Message: "short"},
	}
	for _, p := range payloads {
		for _, stream := range []events.Stream{events.OrgStream, events.MessageStream} {
			if stream == events.MessageStream && p.EventType() != events.CampaignCancelled {
				continue // only a cancellation is passed on to the other stream
			}
			for _, from := range campaign.Statuses {
				want, moved := campaign.Next(from, p.EventType())
				verb := "leaves a " + string(from) + " campaign " + string(want)
				if moved {
					verb = "moves a " + string(from) + " campaign to " + string(want)
				}
				name := fmt.Sprintf("%s on the %v stream %s", p.EventType(), stream, verb)
				t.Run(name, func(t *testing.T) {
					f.t = t
					f.id = uuid.Must(uuid.NewV7())
					f.apply(f.rec(events.OrgStream, payloads[0]))
					tx := f.begin(ctx)
					if _, err := tx.Exec(ctx, `UPDATE campaigns SET status = $2 WHERE campaign_id = $1`, f.id, string(from)); err != nil {
						t.Fatal(err)
					}
					if err := tx.Commit(ctx); err != nil {
						t.Fatal(err)
					}
					m := f.rec(stream, p)
					f.mu.Lock()
					f.announced = nil
					f.mu.Unlock()
					f.apply(m)
					if got := f.status(); got != string(want) {
						t.Fatalf("status %s, want %s", got, want)
					}
					var announced []string
					f.mu.Lock()
					for _, c := range f.announced {
						if c.CampaignID == f.id {
							announced = append(announced, c.Status)
						}
					}
					f.mu.Unlock()
					var wantAnnounced []string
					if st, ok := campaign.Announced(m); ok {
						wantAnnounced = []string{string(st)}
					} else if campaign.Settles(p.EventType()) && moved {
						// No message is QUEUED: the completion is made,
						// and announced, as it is read.
						wantAnnounced = []string{campaigns.StatusCompleted}
					}
					if fmt.Sprint(announced) != fmt.Sprint(wantAnnounced) {
						t.Fatalf("announced %v, want %v", announced, wantAnnounced)
					}
				})
			}
		}
	}
}

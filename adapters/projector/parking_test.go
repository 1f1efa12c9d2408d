package projector_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
)

// poisonAccepted is a CampaignAccepted of the demo organisation as a bug or
// a hand-written record could make it, named name, for partition p.
func poisonAccepted(t *testing.T, e *servicetest.Env, name string, p int32) (*kgo.Record, uuid.UUID) {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	env, err := events.New(uuid.Must(uuid.NewV7()), e.Demo.OrgID, id, events.CampaignAcceptedV1{
		Name: name, Content: "Hello", ChannelType: "SMS", CountryAlpha2: "AO", RemitterID: e.Demo.RemitterID,
		SenderName: "ZIETT", Recipients: []string{"not a number", "neither"}, Currency: "AOA",
	}, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	r := kafkalog.Encode(kafkalog.OrgEvents, e.Demo.OrgID, env)
	r.Partition = p
	return r, id
}

// A record the campaign projector cannot apply (PostgreSQL refuses its
// text, it is not an event at all, a constraint refuses it) is parked,
// on every partition, and the projectors go on: another organisation's
// campaign sent afterwards shows on Retrieve Campaign, readiness stays
// ready and tells the count, the metric counts them. Once the cause of one
// is fixed, retrying applies it and removes it; the others stay parked.
func TestPoisonEventsAreParkedAndRetried(t *testing.T) {
	e := servicetest.Start(t)
	ctx := t.Context()

	// A fixable cause: a constraint on the live campaigns table that
	// refuses one name.
	var schema string
	if err := e.Stack.DB.QueryRow(ctx, `SELECT schema_name FROM read_models WHERE name = 'campaigns'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{schema, "campaigns"}.Sanitize()
	if _, err := e.Stack.DB.Exec(ctx, `ALTER TABLE `+table+` ADD CONSTRAINT refuse_for_test CHECK (name <> 'Refused for now')`); err != nil {
		t.Fatal(err)
	}

	// The poison goes to every partition of the organisations' stream, so
	// whichever partition the other organisation's events use holds one.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var poison []*kgo.Record
	for p := range int32(e.Cfg.Partitions) {
		r, _ := poisonAccepted(t, e, "n\x00ame", p)
		poison = append(poison, r)
	}
	poison = append(poison, &kgo.Record{Topic: kafkalog.OrgEvents, Partition: 0, Key: []byte("junk"), Value: []byte("\xff\x00 not an event")})
	fixable, fixableID := poisonAccepted(t, e, "Refused for now", 1)
	poison = append(poison, fixable)
	if err := cl.ProduceSync(ctx, poison...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Another organisation sends a campaign through the API afterwards.
	a := e.Stack.Admin
	org, err := a.CreateOrganisation(ctx, "Other organisation", "")
	if err != nil {
		t.Fatal(err)
	}
	snd, err := a.RegisterSender(ctx, org.ID, "OTHER")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ApproveSender(ctx, snd.RemitterID); err != nil {
		t.Fatal(err)
	}
	key, err := a.CreateKey(ctx, org.ID, "test", []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Credit(ctx, org.ID, 10_000_000, "test credits"); err != nil {
		t.Fatal(err)
	}
	req := e.SeedRequest()
	req["remitter_id"] = snd.RemitterID.String()
	var other uuid.UUID
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The funds check waits for the ledger, which has a poison
		// record of its own (the one that is not an event) to park.
		r := e.Do(http.MethodPost, "/c/v1/campaigns/batch", key.Secret, req)
		if r.Status == http.StatusAccepted {
			other = uuid.MustParse(r.JSON(t)["campaign_id"].(string))
			break
		}
		if r.Status != http.StatusPaymentRequired || time.Now().After(deadline) {
			t.Fatalf("POST batch of the other organisation: %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		r := e.Do(http.MethodGet, "/c/v1/campaigns/"+other.String(), key.Secret, nil)
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other organisation's campaign is not visible: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	wantParked := map[string]int64{"campaigns": int64(e.Cfg.Partitions) + 2, ledger.Name: 1}
	var counts map[string]int64
	for {
		counts, err = projector.ParkedCounts(ctx, e.Stack.DB)
		if err != nil {
			t.Fatal(err)
		}
		if counts["campaigns"] == wantParked["campaigns"] && counts[ledger.Name] == wantParked[ledger.Name] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked per projection %v, want %v", counts, wantParked)
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs, err := projector.ListParked(ctx, e.Stack.DB, projector.ParkedFilter{Projection: "campaigns"})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(evs)) != wantParked["campaigns"] {
		t.Fatalf("%d parked events listed for campaigns, want %d", len(evs), wantParked["campaigns"])
	}
	for _, ev := range evs {
		if ev.Attempts < 1 || ev.Error == "" || ev.Record.Topic != kafkalog.OrgEvents {
			t.Errorf("parked event %+v", ev)
		}
		switch {
		case ev.Offset == poison[0].Offset && ev.Partition == 0:
			if !strings.Contains(ev.Error, "0x00") {
				t.Errorf("the NUL name is parked with %q, want PostgreSQL's refusal", ev.Error)
			}
			if string(ev.Record.Value) != string(poison[0].Value) || len(ev.Record.Headers) != len(poison[0].Headers) {
				t.Errorf("the parked record is not the record: %+v", ev.Record)
			}
		case string(ev.Record.Key) == "junk":
			if string(ev.Record.Value) != "\xff\x00 not an event" || !strings.Contains(ev.Error, "not an event") {
				t.Errorf("the undecodable record is parked as %q with %q", ev.Record.Value, ev.Error)
			}
		}
	}

	// Readiness stays ready and tells the count; the metrics count too.
	r := e.Do(http.MethodGet, "/readyz", "", nil)
	var ready struct {
		Status  string `json:"status"`
		Details struct {
			Parked map[string]int64 `json:"parked_events"`
		} `json:"details"`
	}
	if err := json.Unmarshal(r.Body, &ready); err != nil || r.Status != http.StatusOK || ready.Details.Parked["campaigns"] != wantParked["campaigns"] {
		t.Fatalf("/readyz: %d %s", r.Status, r.Body)
	}
	resp, err := http.Get(e.BaseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`ziett_projection_parked_events{projection="campaigns"} %d`, wantParked["campaigns"]),
		fmt.Sprintf(`ziett_projection_parked_total{projection="campaigns"} %d`, wantParked["campaigns"]),
		`ziett_projection_parked_events{projection="ledger"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if r := e.Do(http.MethodGet, "/c/v1/campaigns/"+fixableID.String(), e.Demo.APIKey, nil); r.Status != http.StatusNotFound {
		t.Fatalf("the refused campaign is visible before the fix: %d %s", r.Status, r.Body)
	}

	// The fix, then the retry: the fixed one applies and leaves the
	// table; the others fail again and stay, with another attempt.
	if _, err := e.Stack.DB.Exec(ctx, `ALTER TABLE `+table+` DROP CONSTRAINT refuse_for_test`); err != nil {
		t.Fatal(err)
	}
	live := map[string]projections.Projection{"campaigns": campaigns.Projection{}, ledger.Name: ledger.Projection{}}
	res, err := projector.RetryParked(ctx, e.Stack.DB, live, projector.ParkedFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 || res.Applied[0].Offset != fixable.Offset || len(res.Failed) != int(wantParked["campaigns"]+wantParked[ledger.Name])-1 {
		t.Fatalf("retry applied %d (want the fixed one), %d still failing", len(res.Applied), len(res.Failed))
	}
	got := e.Do(http.MethodGet, "/c/v1/campaigns/"+fixableID.String(), e.Demo.APIKey, nil)
	if got.Status != http.StatusOK || got.JSON(t)["name"] != "Refused for now" {
		t.Fatalf("the fixed campaign after the retry: %d %s", got.Status, got.Body)
	}
	evs, err = projector.ListParked(ctx, e.Stack.DB, projector.ParkedFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(res.Failed) {
		t.Fatalf("%d parked after the retry, want %d", len(evs), len(res.Failed))
	}
	for _, ev := range evs {
		if ev.Attempts < 2 {
			t.Errorf("parked event %d (%s) has %d attempts after a retry", ev.ID, ev.Projection, ev.Attempts)
		}
	}
}

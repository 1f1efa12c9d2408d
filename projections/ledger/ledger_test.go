package ledger_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/ledger"
)

var pg *pgcluster.Cluster

func TestMain(m *testing.M) {
	c, cleanup, err := pgcluster.SharedForTests()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = c
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func freshDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url, err := pg.FreshDatabase(t.Context(), "ledger")
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func record(t *testing.T, offset int64, org, campaign uuid.UUID, p events.Payload) events.Message {
	t.Helper()
	env, err := events.New(uuid.Must(uuid.NewV7()), org, campaign, p, time.Now(), "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	m := events.OnOrgStream(env)
	m.At.Offset = offset
	return m
}

func apply(t *testing.T, db *pgxpool.Pool, recs []events.Message) {
	t.Helper()
	tx, err := db.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := (ledger.Projection{}).Apply(t.Context(), tx, recs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// The ledger folds credits, debits and refunds into running balances,
// holds back the estimates of unsettled campaigns, and applying the same
// records again (a replay) changes nothing.
func TestLedgerFold(t *testing.T) {
	db := freshDB(t)
	org, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	c1, c2, c3 := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	batch1 := []events.Message{
		record(t, 0, org, uuid.Nil, events.FundsCreditedV1{Amount: 10_000, Currency: "AOA", Reference: "top-up"}),
		record(t, 1, org, c1, events.CampaignAcceptedV1{EstimatedCost: 3_000, Currency: "AOA"}),
		record(t, 2, org, c2, events.CampaignAcceptedV1{EstimatedCost: 4_000, Currency: "AOA"}),
		record(t, 3, other, uuid.Nil, events.FundsCreditedV1{Amount: 1, Currency: "AOA"}),
	}
	batch2 := []events.Message{
		record(t, 4, org, c1, events.FundsDebitedV1{Amount: 2_500, Currency: "AOA", BalanceAfter: 7_500}),
		record(t, 5, org, c2, events.CampaignFailedV1{Code: "NO_VALID_RECIPIENTS"}),
		record(t, 6, org, c3, events.CampaignAcceptedV1{EstimatedCost: 1_000, Currency: "AOA"}),
		record(t, 7, org, c1, events.FundsRefundedV1{Amount: 500, Currency: "AOA", Messages: 1}),
	}
	apply(t, db, batch1)
	r := ledger.Reader{DB: db}
	bal, pend, err := r.Funds(t.Context(), org)
	if err != nil || bal != 10_000 || pend != 7_000 {
		t.Fatalf("after batch 1: balance %d pending %d (%v), want 10000 and 7000", bal, pend, err)
	}
	apply(t, db, batch2)
	apply(t, db, append(batch1, batch2...)) // a replay
	b, err := r.Get(t.Context(), org, 10)
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance != 8_000 || b.Pending != 1_000 || b.PendingCampaigns != 1 || b.Available != 7_000 {
		t.Fatalf("balance %+v, want 8000 with 1000 pending", b)
	}
	var got []string
	for _, e := range b.RecentEntries {
		got = append(got, fmt.Sprintf("%s %d %d", e.Kind, e.Amount, e.BalanceAfter))
	}
	want := []string{"REFUND 500 8000", "DEBIT -2500 7500", "CREDIT 10000 10000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	if b.RecentEntries[1].CampaignID == nil || *b.RecentEntries[1].CampaignID != c1 || b.RecentEntries[2].CampaignID != nil {
		t.Fatal("entries carry the wrong campaign ids")
	}
	for id, want := range map[uuid.UUID]bool{c1: true, c3: true, uuid.Must(uuid.NewV7()): false} {
		if ok, err := r.Accepted(t.Context(), org, id); err != nil || ok != want {
			t.Errorf("Accepted(%s) = %v %v, want %v", id, ok, err, want)
		}
	}
	if ok, err := r.Accepted(t.Context(), other, c1); err != nil || ok {
		t.Errorf("another organisation's Accepted = %v %v: want false and no error", ok, err)
	}
	if bal, pend, err := r.Funds(t.Context(), other); err != nil || bal != 1 || pend != 0 {
		t.Errorf("other organisation: balance %d pending %d (%v)", bal, pend, err)
	}
}

// An organisation the ledger has never seen has nothing.
func TestLedgerEmpty(t *testing.T) {
	b, err := ledger.Reader{DB: freshDB(t)}.Get(context.Background(), uuid.Must(uuid.NewV7()), 20)
	if err != nil || b.Balance != 0 || b.UpdatedAt != nil || b.RecentEntries == nil || b.Currency != "AOA" {
		t.Fatalf("%+v %v", b, err)
	}
}

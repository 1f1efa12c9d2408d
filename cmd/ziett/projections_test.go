package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/domain/apikey"
)

// `ziett projections verify|rebuild ledger` against a running service: the
// ledger verifies clean, a row no event explains is reported (exit code
// 3), a rebuild replaces it with the fold of the log, and the live
// projector and the funds check carry on in the new generation.
func TestProjectionsRebuildAndVerifyTheLedger(t *testing.T) {
	pg, cleanup, err := pgcluster.SharedForTests()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dbURL, err := pg.FreshDatabase(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := service.Start(ctx, service.Config{Brokers: kc.ListenAddrs(), DatabaseURL: dbURL, HTTPAddr: "127.0.0.1:0", Partitions: 2, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	demo, err := st.Admin.CreateDemo(ctx, 1_000_000, []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("KAFKA_BROKERS", strings.Join(kc.ListenAddrs(), ","))

	ledgerState := func() (balance int64, entries int) {
		t.Helper()
		if err := st.DB.QueryRow(ctx, `SELECT coalesce((SELECT balance FROM ledger_accounts WHERE org_id = $1), 0),
			(SELECT count(*) FROM ledger_entries WHERE org_id = $1)`, demo.OrgID).Scan(&balance, &entries); err != nil {
			t.Fatal(err)
		}
		return balance, entries
	}
	debits := func() (n int) {
		t.Helper()
		if err := st.DB.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE org_id = $1 AND kind = 'DEBIT'`, demo.OrgID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// submit posts a campaign and waits until the ledger holds its debit.
	submit := func(name string) {
		t.Helper()
		before := debits()
		body := fmt.Sprintf(`{"name":%q,"remitter_id":%q,"channel_type":"SMS","country_alpha2":"AO","content":"Hello",
			"recipients":["+244990000001","+244990000002","990000003"]}`, name, demo.RemitterID)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+st.Addr+"/c/v1/campaigns/batch", strings.NewReader(body))
		req.Header.Set("X-API-KEY", demo.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d %s", resp.StatusCode, b)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if debits() > before {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the ledger never recorded the campaign's debit")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := projectionsMain(args, &out, log)
		return out.String(), err
	}
	verify := func() (verifyJSON, error) {
		t.Helper()
		out, err := run("verify", "--json", "ledger")
		var v verifyJSON
		if jerr := json.Unmarshal([]byte(out), &v); jerr != nil {
			t.Fatalf("verify --json printed %q (%v): %v", out, err, jerr)
		}
		return v, err
	}

	submit("First")
	balance, entries := ledgerState()
	if entries != 2 || balance >= 1_000_000 {
		t.Fatalf("ledger after one campaign: balance %d, %d entries", balance, entries)
	}
	v, err := verify()
	if err != nil || !v.Clean || len(v.Tables) != 3 || v.Live != "rm_ledger_1" {
		t.Fatalf("verify of an untouched ledger: %+v, %v", v, err)
	}

	if _, err := st.DB.Exec(ctx, `UPDATE ledger_accounts SET balance = balance + 1 WHERE org_id = $1`, demo.OrgID); err != nil {
		t.Fatal(err)
	}
	v, err = verify()
	if cli.ExitCode(err) != cli.ExitDiffers || v.Clean {
		t.Fatalf("verify of a tampered ledger: %+v, %v (exit %d)", v, err, cli.ExitCode(err))
	}
	for _, tb := range v.Tables {
		want := int64(0)
		if tb.Table == "ledger_accounts" {
			want = 1
		}
		if tb.OnlyLive != want || tb.OnlyReplayed != want {
			t.Errorf("table %s: %d only live, %d only replayed; want %d each", tb.Table, tb.OnlyLive, tb.OnlyReplayed, want)
		}
	}

	out, err := run("rebuild", "--json", "ledger")
	var rb rebuildJSON
	if err != nil || json.Unmarshal([]byte(out), &rb) != nil || rb.Generation != 2 || rb.Schema != "rm_ledger_2" || rb.Events == 0 {
		t.Fatalf("rebuild ledger: %q, %v", out, err)
	}
	if b, n := ledgerState(); b != balance || n != entries {
		t.Fatalf("rebuilt ledger: balance %d, %d entries; the log says %d, %d", b, n, balance, entries)
	}

	// The projector and the funds check follow the switch.
	submit("Second")
	if b, n := ledgerState(); b >= balance || n != entries+1 {
		t.Fatalf("ledger after a campaign in the new generation: balance %d (was %d), %d entries (was %d)", b, balance, n, entries)
	}
	if v, err := verify(); err != nil || !v.Clean || v.Live != "rm_ledger_2" {
		t.Fatalf("verify after the rebuild: %+v, %v", v, err)
	}
}

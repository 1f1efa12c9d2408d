package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/events"
)

// The admin commands against a real Postgres and broker found through
// DATABASE_URL and KAFKA_BROKERS: every operation, in text and --json, and
// a key that works (authenticates with its scopes) until it is revoked.
func TestAdminCommands(t *testing.T) {
	pg, cleanup, err := pgcluster.SharedForTests()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, err := pg.FreshDatabase(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafkalog.EnsureTopics(ctx, cl, kafkalog.Layout{Partitions: 2}, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("KAFKA_BROKERS", strings.Join(kc.ListenAddrs(), ","))

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := adminMain(ctx, args, &out, connectAdmin)
		return out.String(), err
	}
	runJSON := func(v any, args ...string) {
		t.Helper()
		out, err := run(append([]string{"--json"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v: output is not JSON: %v\n%s", args, err, out)
		}
	}

	var org struct {
		ID       string `json:"org_id"`
		Name     string `json:"name"`
		Currency string `json:"currency"`
	}
	runJSON(&org, "org", "create", "--name", "Loja Luanda")
	if org.Name != "Loja Luanda" || org.Currency != "AOA" || org.ID == "" {
		t.Fatalf("org create: %+v", org)
	}
	out, err := run("org", "list")
	if err != nil || !strings.Contains(out, org.ID) || !strings.Contains(out, "Loja Luanda") {
		t.Fatalf("org list: %v\n%s", err, out)
	}

	var key struct {
		KeyID  string   `json:"key_id"`
		Secret string   `json:"api_key"`
		Scopes []string `json:"scopes"`
		Rate   int      `json:"rate_per_minute"`
	}
	runJSON(&key, "key", "create", "--org", org.ID, "--scopes", "apikey:campaign:send,apikey:campaign:read", "--name", "backend")
	if !strings.HasPrefix(key.Secret, "zk_live_") || len(key.Scopes) != 2 || key.Rate != 10 {
		t.Fatalf("key create: %+v", key)
	}
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	dir := postgres.Directory{DB: db}
	p, err := dir.Authenticate(ctx, key.Secret)
	if err != nil || !p.HasScope("apikey:campaign:send") || p.OrgID.String() != org.ID {
		t.Fatalf("the created key does not authenticate: %+v %v", p, err)
	}
	out, err = run("key", "set-rate", "--key", key.KeyID, "--rate", "600")
	if err != nil || !strings.Contains(out, "600 requests per minute") {
		t.Fatalf("key set-rate: %v\n%s", err, out)
	}
	if p, _ := dir.Authenticate(ctx, key.Secret); p.RatePerMinute != 600 {
		t.Fatalf("rate after set-rate: %d", p.RatePerMinute)
	}
	if p, _ := dir.Authenticate(ctx, key.Secret); p.MessageRatePerSecond != 100 {
		t.Fatalf("a new key's Send Message rate is %d per second, want the default 100", p.MessageRatePerSecond)
	}
	out, err = run("key", "set-message-rate", "--key", key.KeyID, "--rate", "250")
	if err != nil || !strings.Contains(out, "250 requests per second on POST /c/v1/messages") {
		t.Fatalf("key set-message-rate: %v\n%s", err, out)
	}
	if p, _ := dir.Authenticate(ctx, key.Secret); p.MessageRatePerSecond != 250 || p.RatePerMinute != 600 {
		t.Fatalf("rates after set-message-rate: %d/s, %d/min", p.MessageRatePerSecond, p.RatePerMinute)
	}
	if _, err := run("key", "set-message-rate", "--key", key.KeyID, "--rate", "0"); err == nil {
		t.Fatal("key set-message-rate accepted a rate of 0")
	}
	var keys []struct {
		KeyID     string  `json:"key_id"`
		RevokedAt *string `json:"revoked_at"`
	}
	runJSON(&keys, "key", "list", "--org", org.ID)
	if len(keys) != 1 || keys[0].KeyID != key.KeyID || keys[0].RevokedAt != nil {
		t.Fatalf("key list: %+v", keys)
	}
	if out, err := run("key", "list", "--org", org.ID); err != nil || strings.Contains(out, key.Secret) || !strings.Contains(out, "active") {
		t.Fatalf("key list shows the secret or no status: %v\n%s", err, out)
	}
	if _, err := run("key", "revoke", "--key", key.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Authenticate(ctx, key.Secret); !errors.Is(err, postgres.ErrNotFound) {
		t.Fatalf("revoked key still authenticates: %v", err)
	}

	var snd struct {
		RemitterID string `json:"remitter_id"`
		Status     string `json:"status"`
	}
	runJSON(&snd, "sender", "register", "--org", org.ID, "--sender", "LOJA")
	if snd.Status != "PENDING" {
		t.Fatalf("sender register: %+v", snd)
	}
	if _, err := run("sender", "approve", "--remitter", snd.RemitterID); err != nil {
		t.Fatal(err)
	}
	var senders []struct {
		RemitterID string `json:"remitter_id"`
		Status     string `json:"status"`
	}
	runJSON(&senders, "sender", "list", "--org", org.ID)
	if len(senders) != 1 || senders[0].Status != "APPROVED" {
		t.Fatalf("sender list: %+v", senders)
	}

	out, err = run("credit", "--org", org.ID, "--amount", "250000", "--reference", "invoice 42")
	if err != nil || !strings.Contains(out, "2500.00 AOA") {
		t.Fatalf("credit: %v\n%s", err, out)
	}
	var credited []events.FundsCreditedV1
	if err := servicetest.ReadTopic(ctx, kc.ListenAddrs(), kafkalog.OrgEvents, func(r *kgo.Record) {
		if e, err := kafkalog.Decode(r); err == nil && e.Type == events.FundsCredited && e.OrgID.String() == org.ID {
			var f events.FundsCreditedV1
			e.Decode(&f) //nolint:errcheck
			credited = append(credited, f)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(credited) != 1 || credited[0].Amount != 250000 || credited[0].Reference != "invoice 42" {
		t.Fatalf("FundsCredited in the log: %+v", credited)
	}

	// Mistakes are refused with a reason, and change nothing.
	for _, args := range [][]string{
		{"org", "create"},
		{"org", "create", "--name", "x", "--currency", "EUR"},
		{"org", "create", "--name", "n\x00ame"},
		{"org", "create", "--name", "caf\xe9"},
		{"credit", "--org", org.ID, "--amount", "5", "--reference", "invoice\x00 43"},
		{"key", "create", "--org", org.ID, "--scopes", "apikey:campaign:read", "--name", "back\x1bend"},
		{"credit", "--org", org.ID, "--amount", "0"},
		{"credit", "--org", "not-a-uuid", "--amount", "5"},
		{"key", "create", "--org", org.ID, "--scopes", "apikey:everything"},
		{"key", "create", "--org", org.ID},
		{"key", "set-rate", "--key", key.KeyID, "--rate", "0"},
		{"key", "revoke", "--key", key.KeyID},
		{"sender", "register", "--org", org.ID, "--sender", "A NAME FAR TOO LONG"},
		{"sender", "approve", "--remitter", org.ID},
		{"key", "list", "--org", "019b4b56-e704-7c30-83a0-527df63c3e00"},
		{"org", "delete"},
		{"nothing"},
	} {
		if out, err := run(args...); err == nil {
			t.Errorf("%v: accepted\n%s", args, out)
		}
	}
}

// A missing or malformed id is a usage error found before anything is
// dialled.
func TestAdminChecksIDsBeforeConnecting(t *testing.T) {
	connect := func(context.Context) (admin.Service, func(), error) {
		t.Error("connected for a command line that cannot run")
		return admin.Service{}, func() {}, errors.New("not connected")
	}
	for _, args := range [][]string{
		{"credit", "--amount", "5"},
		{"credit", "--org", "not-a-uuid", "--amount", "5"},
		{"key", "revoke"},
		{"sender", "approve", "--remitter", "019b4b56"},
	} {
		err := adminMain(t.Context(), args, io.Discard, connect)
		if !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

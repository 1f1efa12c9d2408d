package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
)

// benchCampaigns is the organisation's size the list must stay fast at.
const benchCampaigns = 10_000

// seedReadModel writes n finished campaigns of org, each with five
// messages, straight into the campaigns read model: the benchmark times
// the page, not the pipeline that would fill it.
func seedReadModel(b *testing.B, e *servicetest.Env, org, remitter uuid.UUID, n int) {
	b.Helper()
	ctx := context.Background()
	tx, err := e.Stack.DB.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	exec := func(sql string, args ...any) {
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	exec(`SELECT set_config('search_path', (SELECT schema_name FROM read_models WHERE name = 'campaigns') || ', public', true)`)
	exec(`CREATE TEMP TABLE seeded ON COMMIT DROP AS SELECT gen_random_uuid() AS id, i FROM generate_series(1, $1::int) AS i`, n)
	exec(`INSERT INTO campaigns (campaign_id, org_id, name, status, channel_type, remitter_id, country_alpha2, created_at,
			processed_at, sending_at, completed_at, submitted, valid, msg_total, encoding, segments_per_message, segments_total,
			currency, cost_estimated, cost_debited)
		SELECT id, $1, CASE WHEN i % 10 = 0 THEN 'Promo weekend #' ELSE 'Newsletter #' END || i,
			CASE WHEN i % 50 = 0 THEN 'SENDING' ELSE 'COMPLETED' END, 'SMS', $2, 'AO', now() - make_interval(secs => i * 60),
			now() - make_interval(secs => i * 60 - 1), now() - make_interval(secs => i * 60 - 2),
			CASE WHEN i % 50 = 0 THEN NULL ELSE now() - make_interval(secs => i * 60 - 5) END,
			5, 5, 5, 'GSM7', 1, 5, 'AOA', 2500, 2500
		FROM seeded`, org, remitter)
	exec(`INSERT INTO messages (message_id, campaign_id, org_id, idx, input, e164, provider, segments, cost, currency, status,
			attempts, queued_at, done_at)
		SELECT gen_random_uuid(), id, $1, k, '+24499000000' || k, '+24499000000' || k, 'movicel', 1, 500, 'AOA',
			CASE WHEN k = 4 AND i % 7 = 0 THEN 'FAILED' ELSE 'SENT' END, 1, now(), now()
		FROM seeded, generate_series(0, 4) AS k`, org)
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := e.Stack.DB.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCampaignList times the campaign list page of an organisation
// with 10,000 campaigns (session lookup, read-model query, message counts,
// template) over loopback HTTP, and reports the 50th and 99th percentiles
// of each case: the first page (what the live list polls every 2 s), a
// page deep in the history, and a search by name.
func BenchmarkCampaignList(b *testing.B) {
	// The API alone, as it runs in production: no pipeline beside it.
	e := servicetest.Start(b, servicetest.WithComponents(service.API))
	seedReadModel(b, e, e.Demo.OrgID, e.Demo.RemitterID, benchCampaigns)
	c := newClient(b, e.BaseURL)
	c.signIn(e.Demo.APIKey)
	// The cursor of a page about half-way down.
	var mid string
	if err := e.Stack.DB.QueryRow(context.Background(), `SELECT (extract(epoch FROM created_at) * 1000000)::bigint || '_' || campaign_id
		FROM campaigns WHERE org_id = $1 ORDER BY created_at DESC, campaign_id DESC OFFSET 5000 LIMIT 1`, e.Demo.OrgID).Scan(&mid); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, path string }{
		{"first page", "/campaigns"},
		{"live fragment", "/campaigns/live"},
		{"page 250", "/campaigns?after=" + mid},
		{"search", "/campaigns?q=weekend"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			durs := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				resp, err := c.hc.Get(e.BaseURL + bc.path)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				durs = append(durs, time.Since(start))
				if resp.StatusCode != http.StatusOK || n < 2000 {
					b.Fatalf("GET %s: %d, %d bytes", bc.path, resp.StatusCode, n)
				}
			}
			slices.Sort(durs)
			pct := func(p float64) float64 {
				return float64(durs[min(len(durs)-1, int(float64(len(durs))*p))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

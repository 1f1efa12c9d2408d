package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"ziett.co/campaigns/adapters/embedded/datalock"
	"ziett.co/campaigns/adapters/embedded/kafkabroker"
	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/apikey"
)

// demoCredits is 1,000,000.00 AOA: enough for a few hundred thousand
// messages, so local experiments never stop on funds.
const demoCredits = 100_000_000

const devUsage = `usage: ziett dev [-rules FILE] [-smsc-addr ADDR] [-smsc-receipt-delay D] [-json]
                 [-provider-latency D] [-provider-permanent-failure P] [-provider-transient-failure P]
                 [-provider-journal DIR]

Runs every component in one process with an embedded Kafka broker and a
private PostgreSQL cluster under $ZIETT_DATA_DIR (default ./var), and prints
a demo API key (also written to $ZIETT_DATA_DIR/demo.json). Providers without
a link in the rules are sent over SMPP to an embedded SMSC simulator.
`

func runDev(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	prov := providerFlags(fs)
	smscAddr := fs.String("smsc-addr", env("ZIETT_SMSC_ADDR", "127.0.0.1:0"), "listen address of the embedded SMSC that providers without a link in the rules are sent to")
	receiptDelay := fs.Duration("smsc-receipt-delay", time.Second, "how long after a submission the embedded SMSC sends its delivery receipt")
	rules := fs.String("rules", env("ZIETT_RULES_FILE", ""), "routing, pricing and throughput rules file (default: the shipped rules)")
	asJSON := fs.Bool("json", false, "print the demo key, sender id and URL as one JSON object instead of the banner")
	if err := cli.ParseFlags(fs, args, os.Stdout, devUsage); err != nil {
		return err
	}
	if err := checkProvider(prov); err != nil {
		return err
	}

	dataDir, err := filepath.Abs(env("ZIETT_DATA_DIR", "./var"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	httpAddr := env("ZIETT_HTTP_ADDR", "127.0.0.1:8080")
	brokers := cli.SplitList(os.Getenv("KAFKA_BROKERS"))
	// One process per data directory: a second broker over the same log,
	// or a second server over the same PostgreSQL cluster, destroys both.
	holder := datalock.Holder{Command: "ziett dev", Addrs: map[string]string{"api": httpAddr}}
	if len(brokers) == 0 {
		holder.Addrs["kafka"] = env("ZIETT_KAFKA_ADDR", "127.0.0.1:9092")
	}
	lock, err := datalock.Acquire(dataDir, holder)
	if err != nil {
		return err
	}
	defer lock.Release() //nolint:errcheck

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if len(brokers) == 0 {
		kafkaDir := filepath.Join(dataDir, "kafka")
		broker, err := kafkabroker.Start(ctx, kafkabroker.Options{Dir: kafkaDir, Addr: holder.Addrs["kafka"],
			// Only crash recovery and the broker's own warnings come this way.
			Logf: func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) }})
		if err != nil {
			return fmt.Errorf("embedded kafka on %s: %w", holder.Addrs["kafka"], err)
		}
		defer func() {
			if err := broker.Close(); err != nil {
				log.Error("stop embedded kafka", "err", err)
			}
		}()
		brokers = broker.Addrs()
		log.Info("embedded kafka started", "addr", brokers, "data_dir", kafkaDir,
			"recovered_transactions", len(broker.Recovered))
		if err := os.WriteFile(filepath.Join(dataDir, brokerFile), []byte(strings.Join(brokers, ",")+"\n"), 0o644); err != nil {
			return err
		}
		if err := lock.SetAddr("kafka", strings.Join(brokers, ",")); err != nil {
			return err
		}
	}

	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		pg, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dataDir, "postgres"),
			Logf: func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }})
		if err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				log.Error("stop postgres", "err", err)
			}
		}()
		if err := pg.CreateDatabase(ctx, "ziett"); err != nil {
			return err
		}
		dbURL = pg.URL("ziett")
		if u, err := url.Parse(dbURL); err == nil {
			if err := lock.SetAddr("postgres", u.Host); err != nil {
				return err
			}
		}
		log.Info("embedded postgres started", "url", dbURL)
	}

	rs, links, err := service.Config{RulesFile: *rules}.LoadRules()
	if err != nil {
		return err
	}
	// Providers without a link go to the embedded SMSC over SMPP, unless
	// a -provider-* flag asks for the in-process simulated providers.
	if !simulatedRequested(fs) {
		smsc, linked, err := startDevSMSC(rs, links, *smscAddr, *receiptDelay, log)
		if err != nil {
			return err
		}
		links = linked
		if smsc != nil {
			defer smsc.Close()
			stopReplies, err := serveReplies(ctx, dataDir, smsc, rs, links, log)
			if err != nil {
				return err
			}
			defer stopReplies()
		}
	}
	st, err := service.Start(ctx, service.Config{
		Brokers: brokers, DatabaseURL: dbURL, HTTPAddr: httpAddr, Log: log, Rules: &rs, Links: links,
		Provider: *prov,
		// Local receivers are the point of dev mode; production refuses
		// loopback unless the operator allows it.
		Webhooks: webhooks.Config{Allow: webhooks.Loopback},
		// One dev process per data directory: a stable instance id lets a
		// restart take over its partitions (and abort a transaction a
		// crash left open) at once.
		InstanceID: env("ZIETT_INSTANCE_ID", "dev"),
	})
	if err != nil {
		return err
	}
	if err := lock.SetAddr("api", st.Addr); err != nil {
		st.Close()
		return err
	}
	demo, err := ensureDemo(ctx, st, filepath.Join(dataDir, "demo.json"))
	if err != nil {
		st.Close()
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(os.Stdout).Encode(demo); err != nil {
			st.Close()
			return err
		}
	} else {
		fmt.Printf(`
Ziett Campaigns is running.

  API         %s
  Dashboard   %s/ (sign in with the API key)
  API key     %s
  remitter_id %s
  org_id      %s
  (saved in %s)

Try:
  curl -s -X POST %s/c/v1/campaigns/batch -H 'X-API-KEY: %s' -H 'Content-Type: application/json' \
    -d '{"name":"Demo","remitter_id":"%s","channel_type":"SMS","country_alpha2":"AO","content":"Hello","recipients":["+244990000001","+244990000002","990000003"]}'

Press Ctrl-C to stop.
`, demo.BaseURL, demo.BaseURL, demo.APIKey, demo.RemitterID, demo.OrgID, filepath.Join(dataDir, "demo.json"),
			demo.BaseURL, demo.APIKey, demo.RemitterID)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-st.Done():
	}
	return st.Close()
}

// ensureDemo reuses the demo organisation of an earlier run, so a restart
// keeps the same key, or creates one.
func ensureDemo(ctx context.Context, st *service.Stack, path string) (admin.Demo, error) {
	base := "http://" + st.Addr
	var d admin.Demo
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &d) == nil {
		if _, err := st.Directory.Authenticate(ctx, d.APIKey); err == nil {
			d.BaseURL = base
			return d, writeJSONFile(path, d)
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return d, err
	}
	d, err := st.Admin.CreateDemo(ctx, demoCredits, []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead, apikey.ScopeWebhooksManage, apikey.ScopeMessageSend})
	if err != nil {
		return d, fmt.Errorf("create demo organisation: %w", err)
	}
	d.BaseURL = base
	return d, writeJSONFile(path, d)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// providerFlags are the simulated providers' settings, for dev and serve.
func providerFlags(fs *flag.FlagSet) *smsprovider.Config {
	var c smsprovider.Config
	fs.DurationVar(&c.Latency, "provider-latency", c.Latency, "mean latency of the simulated providers")
	fs.Float64Var(&c.PermanentFailure, "provider-permanent-failure", c.PermanentFailure,
		"probability that a simulated provider rejects a message for good (it is failed and refunded)")
	fs.Float64Var(&c.TransientFailure, "provider-transient-failure", c.TransientFailure,
		"probability that a simulated provider call fails temporarily (it is retried)")
	fs.StringVar(&c.JournalDir, "provider-journal", env("ZIETT_PROVIDER_JOURNAL", c.JournalDir),
		"directory where the simulated providers keep their decisions across restarts, as a real operator would")
	return &c
}

// checkProvider refuses probabilities outside [0, 1].
func checkProvider(c *smsprovider.Config) error {
	for name, p := range map[string]float64{"provider-permanent-failure": c.PermanentFailure, "provider-transient-failure": c.TransientFailure} {
		if p < 0 || p > 1 {
			return cli.UsageErr("-%s must be between 0 and 1, got %v", name, p)
		}
	}
	if c.PermanentFailure+c.TransientFailure > 1 {
		return cli.UsageErr("-provider-permanent-failure and -provider-transient-failure add up to more than 1")
	}
	return nil
}

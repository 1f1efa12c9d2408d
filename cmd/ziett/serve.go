package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/cmd/service"
)

const serveUsage = `usage: ziett serve [-components LIST] [-rules FILE] [-webhook-allow CIDRS] [-provider-… (as dev)]

Runs components against the Kafka cluster of KAFKA_BROKERS and the
PostgreSQL of DATABASE_URL, serving the API (or, without the api component,
/healthz, /readyz and /metrics) on ZIETT_HTTP_ADDR (default 0.0.0.0:8080).

Webhook deliveries never reach private, loopback, link-local or otherwise
reserved addresses, checked after DNS resolution at every connection,
except those in -webhook-allow / ZIETT_WEBHOOK_ALLOW (CIDRs, comma
separated, e.g. 10.20.0.0/16,fd00:1::/64) for receivers on your own
network. The flag wins over the variable.
`

// parseAllowList reads the webhook allow-list: comma-separated CIDRs. A
// bare address is refused rather than guessed at, and so is a prefix that
// allows every address, which would switch the guard off.
func parseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range cli.SplitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, cli.UsageErr("-webhook-allow: %q is not a CIDR such as 10.20.0.0/16 (%v)", f, err)
		}
		if p.Bits() == 0 {
			return nil, cli.UsageErr("-webhook-allow: %q allows every address; list the networks of your receivers", f)
		}
		if p.Masked() != p {
			return nil, cli.UsageErr("-webhook-allow: %q has host bits set; did you mean %s?", f, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// runServe runs a subset of components against external Kafka and
// Postgres: the production shape, one component kind per process.
func runServe(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	comps := fs.String("components", strings.Join(service.All, ","), "comma-separated components to run")
	rules := fs.String("rules", env("ZIETT_RULES_FILE", ""), "routing, pricing and throughput rules file (default: the shipped rules)")
	allow := fs.String("webhook-allow", os.Getenv("ZIETT_WEBHOOK_ALLOW"),
		"comma-separated CIDRs that webhook deliveries may reach although they are private, loopback or otherwise reserved (env ZIETT_WEBHOOK_ALLOW)")
	prov := providerFlags(fs)
	if err := cli.ParseFlags(fs, args, os.Stdout, serveUsage); err != nil {
		return err
	}
	if err := checkProvider(prov); err != nil {
		return err
	}
	allowed, err := parseAllowList(*allow)
	if err != nil {
		return err
	}
	brokers := cli.SplitList(os.Getenv("KAFKA_BROKERS"))
	dbURL := os.Getenv("DATABASE_URL")
	if len(brokers) == 0 || dbURL == "" {
		return errors.New("serve needs KAFKA_BROKERS and DATABASE_URL (use `ziett dev` for the embedded setup)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := service.Start(ctx, service.Config{
		Brokers: brokers, DatabaseURL: dbURL, HTTPAddr: env("ZIETT_HTTP_ADDR", "0.0.0.0:8080"),
		Components: cli.SplitList(*comps), Provider: *prov, Log: log,
		// The simulated providers stand in for missing links only when
		// asked for with a -provider-* flag (tests, chaos runs).
		RequireLinks: !simulatedRequested(fs),
		RulesFile:    *rules, InstanceID: os.Getenv("ZIETT_INSTANCE_ID"),
		Webhooks: webhooks.Config{Allow: allowed},
	})
	if err != nil {
		return err
	}
	log.Info("serving", "components", *comps, "http", st.Addr, "webhook_allow", allowed)
	select {
	case <-ctx.Done():
	case <-st.Done():
	}
	return st.Close()
}

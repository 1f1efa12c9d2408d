package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/adapters/stack"
)

// runServe runs a subset of components against external Kafka and
// Postgres: the production shape, one component kind per process.
func runServe(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	comps := fs.String("components", strings.Join(stack.All, ","), "comma-separated components to run")
	rules := fs.String("rules", env("ZIETT_RULES_FILE", ""), "routing, pricing and throughput rules file (default: the shipped rules)")
	fs.Parse(args) //nolint:errcheck
	brokers := splitList(os.Getenv("KAFKA_BROKERS"))
	dbURL := os.Getenv("DATABASE_URL")
	if len(brokers) == 0 || dbURL == "" {
		return errors.New("serve needs KAFKA_BROKERS and DATABASE_URL (use `ziett dev` for the embedded setup)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := stack.Start(ctx, stack.Config{
		Brokers: brokers, DatabaseURL: dbURL, HTTPAddr: env("ZIETT_HTTP_ADDR", "0.0.0.0:8080"),
		Components: splitList(*comps), Provider: smsprovider.Config{}, Log: log,
		RulesFile: *rules, InstanceID: os.Getenv("ZIETT_INSTANCE_ID"),
	})
	if err != nil {
		return err
	}
	log.Info("serving", "components", *comps, "http", st.Addr)
	select {
	case <-ctx.Done():
	case <-st.Done():
	}
	return st.Close()
}

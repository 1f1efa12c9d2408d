// Command ziett runs the Ziett Campaigns service and administers it.
//
//	ziett dev      everything in one process, embedded broker and database
//	ziett serve    chosen components against KAFKA_BROKERS and DATABASE_URL
//	ziett admin …  organisations, keys, sender IDs, credits
//	ziett audit campaign ID       a campaign's events, read from the log
//	ziett projections rebuild|verify  replay the log into a read model
//	ziett projections parked|retry-parked  events projectors could not apply
//	ziett smsc     the SMPP SMSC simulator on its own
package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

const usage = `usage: ziett <command> [flags]

commands:
  dev      run every component in one process with an embedded Kafka broker
           and a private PostgreSQL cluster under $ZIETT_DATA_DIR (default ./var)
  serve    run components against KAFKA_BROKERS and DATABASE_URL
           (-components api,processor,dispatcher,completion,projector)
  admin    administer organisations, API keys, sender IDs and credits
  audit    print a campaign's events from the log (audit campaign ID)
  projections  rebuild a read model from the log, or verify it (projections rebuild|verify);
           list or re-apply the events projectors parked (projections parked|retry-parked)
  bench    measure throughput and latency with an embedded broker and database
  smsc     run the SMPP v3.4 SMSC simulator on its own (-addr, -accounts, -receipt-delay, -throttle, -rules)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	slog.SetDefault(log)
	var err error
	switch os.Args[1] {
	case "dev":
		err = runDev(os.Args[2:], log)
	case "serve":
		err = runServe(os.Args[2:], log)
	case "admin":
		err = runAdmin(os.Args[2:], log)
	case "bench":
		err = runBench(os.Args[2:], log)
	case "smsc":
		err = runSMSC(os.Args[2:], log)
	case "audit":
		err = runAudit(os.Args[2:], log)
	case "projections":
		err = runProjections(os.Args[2:], log)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "ziett: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ziett:", err)
		os.Exit(1)
	}
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(env("ZIETT_LOG_LEVEL", "info"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func env(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

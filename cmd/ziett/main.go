// Command ziett runs the Ziett Campaigns service and administers it.
//
//	ziett dev      everything in one process, embedded broker and database
//	ziett serve    chosen components against KAFKA_BROKERS and DATABASE_URL
//	ziett admin …  organisations, keys, sender IDs, credits
//	ziett audit campaign ID       a campaign's events, read from the log
//	ziett projections rebuild|verify  replay the log into a read model
//	ziett projections parked|retry-parked  events projectors could not apply
//	ziett smsc     the SMPP SMSC simulator on its own
//	ziett reply    a recipient's reply into the running dev SMSC
//	ziett probe    the container healthcheck (GET /readyz)
//	ziett --version  module version and VCS revision
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/cmd/service"
)

// usage lists the commands; the components come from the stack, so a new
// one cannot be left out.
var usage = `usage: ziett <command> [flags]
       ziett --version [--json]

commands:
  dev      run every component in one process with an embedded Kafka broker
           and a private PostgreSQL cluster under $ZIETT_DATA_DIR (default ./var)
  serve    run components against KAFKA_BROKERS and DATABASE_URL
           (-components ` + strings.Join(service.All, ",") + `)
  admin    administer organisations, API keys, sender IDs and credits
  audit    print a campaign's events from the log (audit campaign ID)
  projections  rebuild a read model from the log, or verify it (projections rebuild|verify);
           list or re-apply the events projectors parked (projections parked|retry-parked)
  probe    ask a running process whether it is ready (GET /readyz): the container healthcheck
  smsc     run the SMPP v3.4 SMSC simulator on its own (-addr, -accounts, -receipt-delay, -throttle, -rules)
  reply    send a recipient's reply (e.g. STOP) into the running ziett dev through its embedded SMSC

Every command answers --help (exit 0). Commands that print data take
--json; under --json an error is printed as a JSON object on stderr.
Exit codes: 0 done, 1 failed, 2 wrong command line, 3 a verified read
model differs from the log (docs/cli.md).
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run runs one command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return cli.Exit(stderr, "ziett", dispatch(args, stdout, stderr), cli.WantsJSON(args))
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return cli.UsageErr("a command is needed")
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: logLevel()}))
	slog.SetDefault(log)
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(rest, log)
	case "serve":
		return runServe(rest, log)
	case "admin":
		return runAdmin(rest, log)
	case "smsc":
		return runSMSC(rest, log)
	case "reply":
		return runReply(rest)
	case "audit":
		return runAudit(rest, log)
	case "projections":
		return runProjections(rest, log)
	case "probe":
		return runProbe(rest, stdout)
	case "version", "-version", "--version":
		return printVersion(stdout, cli.WantsJSON(rest))
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "--json", "-json":
		if len(rest) > 0 && (rest[0] == "--version" || rest[0] == "-version" || rest[0] == "version") {
			return printVersion(stdout, true)
		}
	}
	fmt.Fprint(stderr, usage)
	return cli.UsageErr("unknown command %q", cmd)
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

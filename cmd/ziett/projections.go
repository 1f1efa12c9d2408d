package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/projections"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
)

const projectionsUsage = `usage:
  ziett projections rebuild [-lag N] [--json] NAME   replay the log into fresh tables and
                                                    switch readers to them once caught up
  ziett projections verify [--json] [NAME]           replay into scratch tables and report any
                                                    difference from the live read model
                                                    (both fail when no record arrives for -stall,
                                                    30s, while records are missing, saying which)
  ziett projections parked [--json] [NAME]           list the events projectors parked
  ziett projections retry-parked (--id N | --all) [NAME]
                                                    apply parked events again after a fix

Projections: %s (every read model kept in PostgreSQL; the webhook outbox is
not one: it records what was sent, and a replay must not send again).
Exit code 3 when verify finds a difference.
Connects to KAFKA_BROKERS / DATABASE_URL, or to a running ` + "`ziett dev`" + `.
`

// rebuildable lists the projections whose tables live in generations. The
// values carry no hooks: a replay must not notify the outside again.
func rebuildable(log *slog.Logger) map[string]projections.Projection {
	return map[string]projections.Projection{
		"campaigns": campaigns.Projection{Log: log},
		"ledger":    ledger.Projection{Log: log},
	}
}

// rebuildJSON is one rebuilt projection under --json.
type rebuildJSON struct {
	Projection string  `json:"projection"`
	Events     int64   `json:"events"`
	Seconds    float64 `json:"seconds"`
	Generation int     `json:"generation"`
	Schema     string  `json:"schema"`
}

// verifyJSON is one verified projection under --json.
type verifyJSON struct {
	Projection string      `json:"projection"`
	Live       string      `json:"live_schema"`
	Events     int64       `json:"events"`
	Seconds    float64     `json:"seconds"`
	Clean      bool        `json:"clean"`
	Tables     []tableJSON `json:"tables"`
}

type tableJSON struct {
	Table          string   `json:"table"`
	Rows           int64    `json:"rows"`
	OnlyLive       int64    `json:"only_live"`
	OnlyReplayed   int64    `json:"only_replayed"`
	SampleLive     []string `json:"sample_live"`
	SampleReplayed []string `json:"sample_replayed"`
}

func runProjections(args []string, log *slog.Logger) error {
	return projectionsMain(args, os.Stdout, log)
}

func projectionsMain(args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) > 0 && (args[0] == "parked" || args[0] == "retry-parked") {
		return runParked(args, log)
	}
	all := rebuildable(log)
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	usage := fmt.Sprintf(projectionsUsage, strings.Join(names, ", "))
	if len(args) >= 1 && cli.IsHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return flag.ErrHelp
	}
	if len(args) < 1 || (args[0] != "rebuild" && args[0] != "verify") {
		return cli.UsageErr("projections: expected rebuild, verify, parked or retry-parked\n\n%s", usage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("projections "+verb, flag.ContinueOnError)
	lag := fs.Int64("lag", 1000, "rebuild: records behind the log end at which to switch")
	stall := fs.Duration("stall", projector.DefaultStallTimeout, "give up when no record arrives for this long while records are still missing")
	asJSON := fs.Bool("json", false, "print the result as JSON, one object per projection")
	if err := cli.ParseFlags(fs, args[1:], stdout, usage); err != nil {
		return err
	}
	var chosen []string
	switch {
	case fs.NArg() == 1:
		if _, ok := all[fs.Arg(0)]; !ok {
			return cli.UsageErr("projections: unknown projection %q (known: %s)", fs.Arg(0), strings.Join(names, ", "))
		}
		chosen = []string{fs.Arg(0)}
	case fs.NArg() == 0 && verb == "verify":
		chosen = names
	default:
		return cli.UsageErr("projections %s: give one projection name (%s)", verb, strings.Join(names, ", "))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := resolveTarget()
	if err != nil {
		return err
	}
	db, err := t.openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()

	enc := json.NewEncoder(stdout)
	var differ []string
	for _, name := range chosen {
		p := newProgress(verb + " " + name)
		rb, err := projector.NewRebuilder(projector.RebuilderConfig{Pool: db, Client: kafkalog.ClientConfig{Brokers: t.Brokers},
			Projection: all[name], Log: log, Progress: p.update, SwitchLag: *lag, StallTimeout: *stall})
		if err != nil {
			return err
		}
		if verb == "rebuild" {
			res, err := rb.Rebuild(ctx)
			p.finish()
			if err != nil {
				return fmt.Errorf("rebuild %s: %w", name, err)
			}
			if *asJSON {
				if err := enc.Encode(rebuildJSON{Projection: name, Events: res.Events, Seconds: res.Took.Seconds(),
					Generation: res.Generation, Schema: res.Schema}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(stdout, "%s rebuilt from %d events in %s; readers now use generation %d (%s)\n",
				name, res.Events, res.Took.Round(time.Millisecond), res.Generation, res.Schema)
			continue
		}
		rep, err := rb.Verify(ctx)
		p.finish()
		if err != nil {
			return fmt.Errorf("verify %s: %w", name, err)
		}
		if *asJSON {
			v := verifyJSON{Projection: name, Live: rep.Live, Events: rep.Events, Seconds: rep.Took.Seconds(), Clean: rep.Clean(),
				Tables: []tableJSON{}}
			for _, t := range rep.Tables {
				v.Tables = append(v.Tables, tableJSON{Table: t.Table, Rows: t.Rows, OnlyLive: t.OnlyLive, OnlyReplayed: t.OnlyReplayed,
					SampleLive: nonNil(t.SampleLive), SampleReplayed: nonNil(t.SampleReplayed)})
			}
			if err := enc.Encode(v); err != nil {
				return err
			}
		} else {
			fmt.Fprint(stdout, rep.String())
		}
		if !rep.Clean() {
			differ = append(differ, name)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("%w: read models differ from a replay of the log: %s", cli.ErrDiffers, strings.Join(differ, ", "))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// progress shows a replay's progress on stderr: a live bar on a terminal,
// a line every few seconds otherwise (logs, CI).
type progress struct {
	label string
	tty   bool
	bar   *progressbar.ProgressBar
	phase string
	last  time.Time
}

func newProgress(label string) *progress {
	st, err := os.Stderr.Stat()
	return &progress{label: label, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) update(pr projector.Progress) {
	if !p.tty {
		if time.Since(p.last) < 5*time.Second && pr.Done < pr.Total {
			return
		}
		p.last = time.Now()
		fmt.Fprintf(os.Stderr, "%s: %s %d of ~%d events, %.0f events/s, ETA %s\n",
			p.label, pr.Phase, pr.Done, pr.Total, pr.Rate, pr.ETA.Round(time.Second))
		return
	}
	if pr.Phase != p.phase {
		p.finish()
		p.bar, p.phase = nil, pr.Phase
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(max(pr.Total, 1),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(p.label+" ("+pr.Phase+")"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(),
		)
	}
	p.bar.Describe(p.label + " (" + pr.Phase + ")")
	p.bar.ChangeMax64(max(pr.Total, pr.Done, 1))
	p.bar.Set64(pr.Done) //nolint:errcheck
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish() //nolint:errcheck
		fmt.Fprintln(os.Stderr)
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"ziett.co/campaigns/projections"
	"ziett.co/campaigns/projections/campaigns"
)

const projectionsUsage = `usage:
  ziett projections rebuild [-lag N] NAME   replay the log into fresh tables and switch
                                           readers to them once caught up
  ziett projections verify [NAME]           replay into scratch tables and report any
                                           difference from the live read model
                                           (both fail when no record arrives for -stall,
                                           30s, while records are missing, saying which)
  ziett projections parked [--json] [NAME]  list the events projectors parked
  ziett projections retry-parked (--id N | --all) [NAME]
                                           apply parked events again after a fix

Projections that can be rebuilt: %s.
Connects to KAFKA_BROKERS / DATABASE_URL, or to a running ` + "`ziett dev`" + `.
`

// rebuildable lists the projections whose tables live in generations. The
// values carry no hooks: a replay must not notify the outside again.
func rebuildable(log *slog.Logger) map[string]projections.Projection {
	return map[string]projections.Projection{
		"campaigns": campaigns.Projection{Log: log},
	}
}

func runProjections(args []string, log *slog.Logger) error {
	if len(args) > 0 && (args[0] == "parked" || args[0] == "retry-parked") {
		return runParked(args, log)
	}
	all := rebuildable(log)
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	usage := func() { fmt.Fprintf(os.Stderr, projectionsUsage, strings.Join(names, ", ")) }
	if len(args) < 1 || (args[0] != "rebuild" && args[0] != "verify") {
		usage()
		return errors.New("projections: expected rebuild, verify, parked or retry-parked")
	}
	verb := args[0]
	fs := flag.NewFlagSet("projections "+verb, flag.ContinueOnError)
	fs.Usage = usage
	lag := fs.Int64("lag", 1000, "rebuild: records behind the log end at which to switch")
	stall := fs.Duration("stall", projections.DefaultStallTimeout, "give up when no record arrives for this long while records are still missing")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var chosen []string
	switch {
	case fs.NArg() == 1:
		if _, ok := all[fs.Arg(0)]; !ok {
			usage()
			return fmt.Errorf("projections: unknown projection %q", fs.Arg(0))
		}
		chosen = []string{fs.Arg(0)}
	case fs.NArg() == 0 && verb == "verify":
		chosen = names
	default:
		usage()
		return fmt.Errorf("projections %s: give one projection name", verb)
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

	var differ []string
	for _, name := range chosen {
		p := newProgress(verb + " " + name)
		rb := &projections.Rebuilder{Pool: db, Brokers: t.Brokers, Projection: all[name], Log: log,
			Progress: p.update, SwitchLag: *lag, StallTimeout: *stall}
		if verb == "rebuild" {
			res, err := rb.Rebuild(ctx)
			p.finish()
			if err != nil {
				return fmt.Errorf("rebuild %s: %w", name, err)
			}
			fmt.Printf("%s rebuilt from %d events in %s; readers now use generation %d (%s)\n",
				name, res.Events, res.Took.Round(time.Millisecond), res.Generation, res.Schema)
			continue
		}
		rep, err := rb.Verify(ctx)
		p.finish()
		if err != nil {
			return fmt.Errorf("verify %s: %w", name, err)
		}
		fmt.Print(rep.String())
		if !rep.Clean() {
			differ = append(differ, name)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("read models differ from a replay of the log: %s", strings.Join(differ, ", "))
	}
	return nil
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

func (p *progress) update(pr projections.Progress) {
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

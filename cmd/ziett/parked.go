package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/projections"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
	whproj "ziett.co/campaigns/projections/webhooks"
)

const parkedUsage = `usage:
  ziett projections parked [--json] [NAME]
      list the events projectors could not apply and parked, with the error
  ziett projections retry-parked (--id N[,N...] | --all) [NAME]
      apply parked events again (after a fix); those that now apply are
      removed, the others stay parked with their new error

NAME limits either to one projection (%s).
Connects to DATABASE_URL, or to a running ` + "`ziett dev`" + `.
`

// liveProjections are the projections as the projector runs them, hooks
// included: a parked event applied late notifies webhooks like any other.
func liveProjections(log *slog.Logger) map[string]projections.Projection {
	return map[string]projections.Projection{
		"campaigns": campaigns.Projection{Log: log, OnChange: whproj.Outbox{Queue: webhooks.Queue{}, Log: log}.OnChange},
		ledger.Name: ledger.Projection{Log: log},
	}
}

func runParked(args []string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return parkedMain(ctx, args, os.Stdout, log, func(ctx context.Context) (*pgxpool.Pool, error) {
		t, err := resolveTarget()
		if err != nil {
			return nil, err
		}
		return t.openDB(ctx)
	})
}

// parkedMain runs `projections parked` and `projections retry-parked`
// (args[0]), writing to out.
func parkedMain(ctx context.Context, args []string, out io.Writer, log *slog.Logger, connect func(context.Context) (*pgxpool.Pool, error)) error {
	live := liveProjections(log)
	names := make([]string, 0, len(live))
	for n := range live {
		names = append(names, n)
	}
	slices.Sort(names)
	usage := func() { fmt.Fprintf(os.Stderr, parkedUsage, strings.Join(names, ", ")) }
	verb := args[0]
	fs := flag.NewFlagSet("projections "+verb, flag.ContinueOnError)
	fs.Usage = usage
	asJSON := fs.Bool("json", false, "parked: print JSON")
	idList := fs.String("id", "", "retry-parked: the parked events' ids, comma-separated")
	all := fs.Bool("all", false, "retry-parked: every parked event")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var f projector.ParkedFilter
	switch fs.NArg() {
	case 0:
	case 1:
		if _, ok := live[fs.Arg(0)]; !ok {
			usage()
			return fmt.Errorf("projections %s: unknown projection %q", verb, fs.Arg(0))
		}
		f.Projection = fs.Arg(0)
	default:
		usage()
		return fmt.Errorf("projections %s: at most one projection name", verb)
	}
	if verb == "retry-parked" {
		for _, s := range strings.Split(*idList, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("projections retry-parked: --id %q is not a parked event's id", s)
			}
			f.IDs = append(f.IDs, id)
		}
		if (len(f.IDs) > 0) == *all {
			usage()
			return errors.New("projections retry-parked: give --id or --all (one of them)")
		}
	}
	db, err := connect(ctx)
	if err != nil {
		return err
	}
	defer db.Close()

	if verb == "parked" {
		evs, err := projector.ListParked(ctx, db, f)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeParkedJSON(out, evs)
		}
		writeParkedText(out, evs)
		return nil
	}
	res, err := projector.RetryParked(ctx, db, live, f)
	for _, ev := range res.Applied {
		fmt.Fprintf(out, "applied  %d  %s %s/%d@%d\n", ev.ID, ev.Projection, ev.Topic, ev.Partition, ev.Offset)
	}
	for _, ev := range res.Failed {
		fmt.Fprintf(out, "parked   %d  %s %s/%d@%d  %s\n", ev.ID, ev.Projection, ev.Topic, ev.Partition, ev.Offset, firstLine(ev.Error))
	}
	if err != nil {
		return err
	}
	if len(f.IDs) > 0 && len(res.Applied)+len(res.Failed) < len(f.IDs) {
		fmt.Fprintf(out, "%d of the ids given are not parked (any more)\n", len(f.IDs)-len(res.Applied)-len(res.Failed))
	}
	fmt.Fprintf(out, "%d applied, %d still parked\n", len(res.Applied), len(res.Failed))
	if len(res.Failed) > 0 {
		return fmt.Errorf("%d parked events still cannot be applied", len(res.Failed))
	}
	return nil
}

// parkedView is a parked event as the commands show it: where it is in
// the log, what it is when it decodes as an event, and the record itself.
type parkedView struct {
	ID         int64             `json:"id"`
	Projection string            `json:"projection"`
	Topic      string            `json:"topic"`
	Partition  int32             `json:"partition"`
	Offset     int64             `json:"offset"`
	EventType  string            `json:"event_type,omitempty"`
	EventID    string            `json:"event_id,omitempty"`
	OrgID      string            `json:"org_id,omitempty"`
	CampaignID string            `json:"campaign_id,omitempty"`
	Error      string            `json:"error"`
	FirstSeen  time.Time         `json:"first_seen"`
	LastSeen   time.Time         `json:"last_seen"`
	Attempts   int               `json:"attempts"`
	Key        []byte            `json:"key"`   // base64
	Value      []byte            `json:"value"` // base64
	Headers    map[string][]byte `json:"headers"`
}

func viewParked(ev projector.ParkedEvent) parkedView {
	v := parkedView{ID: ev.ID, Projection: ev.Projection, Topic: ev.Topic, Partition: ev.Partition, Offset: ev.Offset,
		Error: ev.Error, FirstSeen: ev.FirstSeen, LastSeen: ev.LastSeen, Attempts: ev.Attempts,
		Key: ev.Record.Key, Value: ev.Record.Value, Headers: map[string][]byte{}}
	for _, h := range ev.Record.Headers {
		v.Headers[h.Key] = h.Value
	}
	if e, err := kafkalog.Decode(ev.Record); err == nil {
		v.EventType, v.EventID, v.OrgID = string(e.Type), e.ID.String(), e.OrgID.String()
		if e.CampaignID.String() != "00000000-0000-0000-0000-000000000000" {
			v.CampaignID = e.CampaignID.String()
		}
	}
	return v
}

func writeParkedJSON(out io.Writer, evs []projector.ParkedEvent) error {
	views := make([]parkedView, len(evs))
	for i, ev := range evs {
		views[i] = viewParked(ev)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(views)
}

func writeParkedText(out io.Writer, evs []projector.ParkedEvent) {
	if len(evs) == 0 {
		fmt.Fprintln(out, "no parked events")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROJECTION\tRECORD\tEVENT\tORG\tFIRST SEEN\tATTEMPTS\tERROR")
	for _, ev := range evs {
		v := viewParked(ev)
		fmt.Fprintf(tw, "%d\t%s\t%s/%d@%d\t%s\t%s\t%s\t%d\t%s\n", v.ID, v.Projection, v.Topic, v.Partition, v.Offset,
			orDash(v.EventType), orDash(v.OrgID), v.FirstSeen.UTC().Format(time.RFC3339), v.Attempts, firstLine(v.Error))
	}
	tw.Flush() //nolint:errcheck
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// firstLine keeps a table row on one line (a panic's error has its stack).
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

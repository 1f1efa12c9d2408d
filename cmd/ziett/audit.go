package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/internal/cli"
)

const auditUsage = `usage: ziett audit campaign [-org ORG_ID] [-json] CAMPAIGN_ID

Prints every event of a campaign in order, read from Kafka: time, type,
where it sits in the log, its id, the event that caused it, and its payload.
The organisation is looked up in the read model unless -org gives it.
Connects to KAFKA_BROKERS / DATABASE_URL, or to a running ` + "`ziett dev`" + `.
`

func runAudit(args []string, _ *slog.Logger) error {
	if len(args) >= 1 && cli.IsHelp(args[0]) {
		fmt.Fprint(os.Stdout, auditUsage)
		return flag.ErrHelp
	}
	if len(args) < 1 || args[0] != "campaign" {
		return cli.UsageErr("audit: expected `campaign`\n\n%s", auditUsage)
	}
	fs := flag.NewFlagSet("audit campaign", flag.ContinueOnError)
	orgFlag := fs.String("org", "", "organisation id of the campaign (default: looked up in the read model)")
	asJSON := fs.Bool("json", false, "print one JSON object per event")
	if err := cli.ParseFlags(fs, args[1:], os.Stdout, auditUsage); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.UsageErr("audit: give exactly one campaign id\n\n%s", auditUsage)
	}
	id, err := uuid.Parse(fs.Arg(0))
	if err != nil {
		return cli.UsageErr("audit: %q is not a campaign id", fs.Arg(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := resolveTarget()
	if err != nil && *orgFlag == "" {
		return err
	}
	var org uuid.UUID
	if *orgFlag != "" {
		if org, err = uuid.Parse(*orgFlag); err != nil {
			return cli.UsageErr("audit: -org %q is not an organisation id", *orgFlag)
		}
	} else if org, err = lookupOrg(ctx, t, id); err != nil {
		return err
	}
	trail := kafkalog.Trail{Client: kafkalog.ClientConfig{Brokers: t.Brokers}}
	var cursor *kafkalog.TrailCursor
	n := 0
	for {
		page, err := trail.Read(ctx, org, id, cursor, 1000)
		if err != nil {
			return fmt.Errorf("audit: read the log at %v: %w", t.Brokers, err)
		}
		for _, e := range page.Events {
			if err := printAuditEvent(os.Stdout, httpapi.NewAuditEvent(e), *asJSON); err != nil {
				return err
			}
			n++
		}
		if !page.More {
			break
		}
		next := page.Next
		cursor = &next
	}
	if n == 0 {
		return fmt.Errorf("audit: no events of campaign %s with organisation %s in the log", id, org)
	}
	if !*asJSON {
		fmt.Fprintf(os.Stdout, "\n%d events of campaign %s (organisation %s)\n", n, id, org)
	}
	return nil
}

// lookupOrg finds a campaign's organisation, which names the partition of
// the organisation stream that holds its events.
func lookupOrg(ctx context.Context, t target, campaign uuid.UUID) (uuid.UUID, error) {
	conn, err := pgx.Connect(ctx, t.DatabaseURL)
	if err != nil {
		return uuid.Nil, fmt.Errorf("audit: cannot look up the campaign's organisation (%w); give -org", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var org uuid.UUID
	err = conn.QueryRow(ctx, `SELECT org_id FROM campaigns WHERE campaign_id = $1`, campaign).Scan(&org)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("audit: campaign %s is not in the read model; give its organisation with -org", campaign)
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("audit: look up the campaign's organisation: %w", err)
	}
	return org, nil
}

func printAuditEvent(w io.Writer, e httpapi.AuditEvent, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(e)
	}
	cause := "-"
	if e.CausationID != nil {
		cause = e.CausationID.String()
	}
	var payload bytes.Buffer
	if err := json.Compact(&payload, e.Payload); err != nil {
		payload.Write(e.Payload)
	}
	_, err := fmt.Fprintf(w, "%s  %-22s %s/%d@%d\n    id %s  caused by %s  source %s\n    %s\n",
		e.Time.Format("2006-01-02T15:04:05.000000Z07:00"), fmt.Sprintf("%s.v%d", e.Type, e.Version),
		e.Topic, e.Partition, e.Offset, e.EventID, cause, e.Source, payload.String())
	return err
}

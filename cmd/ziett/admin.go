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
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/commands/admin"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/pricing"
)

const adminUsage = `usage: ziett admin [--json] <command> [flags]

commands:
  org create --name NAME [--currency AOA]
  org list
  credit --org ORG_ID --amount MINOR_UNITS [--reference TEXT]
  key create --org ORG_ID --scopes SCOPE[,SCOPE...] [--name NAME] [--rate PER_MINUTE]
  key revoke --key KEY_ID
  key list --org ORG_ID
  key set-rate --key KEY_ID --rate PER_MINUTE
  key set-message-rate --key KEY_ID --rate PER_SECOND
  sender register --org ORG_ID --sender NAME
  sender approve --remitter REMITTER_ID
  sender list --org ORG_ID

Amounts are integer minor units of the currency (100 = 1.00 AOA).
Scopes: %s.
--json prints the result as JSON instead of text.

It connects to DATABASE_URL and KAFKA_BROKERS, or, when they are unset, to
the running ` + "`ziett dev`" + ` under $ZIETT_DATA_DIR (default ./var).
`

func runAdmin(args []string, _ *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return adminMain(ctx, args, os.Stdout, connectAdmin)
}

// connectAdmin opens the administrative service against the resolved
// target. Kafka is only dialled when an operation appends (credit).
func connectAdmin(ctx context.Context) (admin.Service, func(), error) {
	t, err := resolveTarget()
	if err != nil {
		return admin.Service{}, nil, err
	}
	db, err := t.openDB(ctx)
	if err != nil {
		return admin.Service{}, nil, err
	}
	lazy := &lazyAppender{brokers: t.Brokers}
	return admin.Service{Dir: postgres.Directory{DB: db}, Log: lazy}, func() { lazy.close(); db.Close() }, nil
}

// lazyAppender connects to Kafka on first use, so commands that only touch
// Postgres work while the broker is down.
type lazyAppender struct {
	brokers []string
	cl      *kgo.Client
}

func (l *lazyAppender) Append(ctx context.Context, msgs ...events.Message) error {
	if l.cl == nil {
		cl, err := kafkalog.Client(kafkalog.ClientConfig{Brokers: l.brokers})
		if err != nil {
			return err
		}
		l.cl = cl
	}
	// An unreachable broker would otherwise be retried for as long as ctx
	// allows; an operator wants an answer.
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafkalog.NewAppender(l.cl).Append(actx, msgs...); err != nil {
		return fmt.Errorf("kafka %s: %w", strings.Join(l.brokers, ","), err)
	}
	return nil
}

func (l *lazyAppender) close() {
	if l.cl != nil {
		l.cl.Close()
	}
}

func adminMain(ctx context.Context, args []string, out io.Writer, connect func(context.Context) (admin.Service, func(), error)) error {
	asJSON := false
	var rest []string
	for _, a := range args {
		if a == "--json" || a == "-json" {
			asJSON = true
			continue
		}
		rest = append(rest, a)
	}
	usage := fmt.Sprintf(adminUsage, strings.Join(admin.Scopes, ", "))
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		fmt.Fprint(out, usage)
		if len(rest) == 0 {
			return fmt.Errorf("%w: a command is needed", cli.ErrUsage)
		}
		return nil
	}
	cmd := rest[0]
	if cmd != "credit" {
		if len(rest) < 2 {
			return fmt.Errorf("%w: %q needs a subcommand\n\n%s", cli.ErrUsage, cmd, usage)
		}
		cmd += " " + rest[1]
		rest = rest[2:]
	} else {
		rest = rest[1:]
	}
	op, ok := adminOps[cmd]
	if !ok {
		return fmt.Errorf("%w: unknown command %q\n\n%s", cli.ErrUsage, cmd, usage)
	}
	fs := flag.NewFlagSet("ziett admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := op(fs)
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("%w: %s: %v\n\n%s", cli.ErrUsage, cmd, err, usage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", cli.ErrUsage, cmd, fs.Arg(0))
	}
	if err := missingIDs(fs); err != nil {
		return fmt.Errorf("%w: %s: %v", cli.ErrUsage, cmd, err)
	}
	svc, closeFn, err := connect(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	res, err := run(ctx, svc)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res.value)
	}
	_, err = io.WriteString(out, res.text)
	return err
}

// result is what an operation printed: a value for --json and its text.
type result struct {
	value any
	text  string
}

type adminOp func(fs *flag.FlagSet) func(ctx context.Context, svc admin.Service) (result, error)

// idFlag is a required UUID flag: Parse refuses a value that is not a
// UUID, and adminMain a missing one, both before connecting.
func idFlag(fs *flag.FlagSet, name, what string) *uuid.UUID {
	f := &uuidFlag{}
	fs.Var(f, name, what)
	return &f.id
}

type uuidFlag struct {
	id  uuid.UUID
	set bool
}

func (f *uuidFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.id.String()
}

func (f *uuidFlag) Set(s string) error {
	id, err := uuid.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a UUID", s)
	}
	f.id, f.set = id, true
	return nil
}

// missingIDs names the required UUID flags that were not given.
func missingIDs(fs *flag.FlagSet) error {
	var missing []string
	fs.VisitAll(func(fl *flag.Flag) {
		if f, ok := fl.Value.(*uuidFlag); ok && !f.set {
			missing = append(missing, "--"+fl.Name)
		}
	})
	if len(missing) > 0 {
		return fmt.Errorf("%s required", strings.Join(missing, ", "))
	}
	return nil
}

var adminOps = map[string]adminOp{
	"org create": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		name := fs.String("name", "", "organisation name")
		currency := fs.String("currency", pricing.Currency, "currency")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			o, err := svc.CreateOrganisation(ctx, *name, *currency)
			if err != nil {
				return result{}, err
			}
			return result{o, fmt.Sprintf("Created organisation %q\n  org_id    %s\n  currency  %s\n", o.Name, o.ID, o.Currency)}, nil
		}
	},
	"org list": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		return func(ctx context.Context, svc admin.Service) (result, error) {
			orgs, err := svc.ListOrganisations(ctx)
			if err != nil {
				return result{}, err
			}
			rows := [][]string{{"ORG_ID", "NAME", "CURRENCY", "CREATED"}}
			for _, o := range orgs {
				rows = append(rows, []string{o.ID.String(), o.Name, o.Currency, stamp(o.CreatedAt)})
			}
			return result{orgs, table(rows, "organisations", len(orgs))}, nil
		}
	},
	"credit": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		org := idFlag(fs, "org", "organisation id")
		amount := fs.Int64("amount", 0, "amount in minor units")
		ref := fs.String("reference", "", "free text kept with the credit")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			ev, err := svc.Credit(ctx, *org, *amount, *ref)
			if err != nil {
				return result{}, err
			}
			v := struct {
				EventID  uuid.UUID `json:"event_id"`
				OrgID    uuid.UUID `json:"org_id"`
				Amount   int64     `json:"amount"`
				Currency string    `json:"currency"`
			}{ev, *org, *amount, pricing.Currency}
			return result{v, fmt.Sprintf("Credited %s to organisation %s\n  event_id  %s (FundsCredited)\n",
				money(*amount), *org, ev)}, nil
		}
	},
	"key create": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		org := idFlag(fs, "org", "organisation id")
		scopes := fs.String("scopes", "", "comma-separated scopes")
		name := fs.String("name", "", "a label for the key")
		rate := fs.Int("rate", 0, "requests per minute on the batch endpoint (default 10)")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			k, err := svc.CreateKey(ctx, *org, *name, cli.SplitList(*scopes), *rate)
			if err != nil {
				return result{}, err
			}
			return result{k, fmt.Sprintf("Created key %s for organisation %s\n  api_key   %s\n  scopes    %s\n  rate      %d/min\n\nThe key is shown once: store it now.\n",
				k.KeyID, k.OrgID, k.Secret, strings.Join(k.Scopes, ","), k.RatePerMinute)}, nil
		}
	},
	"key revoke": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		key := idFlag(fs, "key", "key id")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			k, err := svc.RevokeKey(ctx, *key)
			if err != nil {
				return result{}, err
			}
			return result{k, fmt.Sprintf("Revoked key %s (%s); requests with it are refused from now on.\n", k.KeyID, k.Prefix)}, nil
		}
	},
	"key list": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		org := idFlag(fs, "org", "organisation id")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			keys, err := svc.ListKeys(ctx, *org)
			if err != nil {
				return result{}, err
			}
			rows := [][]string{{"KEY_ID", "PREFIX", "NAME", "SCOPES", "RATE/MIN", "STATUS"}}
			for _, k := range keys {
				st := "active"
				if k.RevokedAt != nil {
					st = "revoked " + stamp(*k.RevokedAt)
				}
				rows = append(rows, []string{k.KeyID.String(), k.Prefix, k.Name, strings.Join(k.Scopes, ","), fmt.Sprint(k.RatePerMinute), st})
			}
			return result{keys, table(rows, "keys", len(keys))}, nil
		}
	},
	"key set-rate": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		key := idFlag(fs, "key", "key id")
		rate := fs.Int("rate", 0, "requests per minute on the batch endpoint")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			k, err := svc.SetKeyRate(ctx, *key, *rate)
			if err != nil {
				return result{}, err
			}
			return result{k, fmt.Sprintf("Key %s may now make %d requests per minute on POST /c/v1/campaigns/batch.\n", k.KeyID, k.RatePerMinute)}, nil
		}
	},
	"key set-message-rate": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		key := idFlag(fs, "key", "key id")
		rate := fs.Int("rate", 0, "requests per second on Send Message")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			k, err := svc.SetKeyMessageRate(ctx, *key, *rate)
			if err != nil {
				return result{}, err
			}
			return result{k, fmt.Sprintf("Key %s may now make %d requests per second on POST /c/v1/messages.\n", k.KeyID, k.MessageRatePerSecond)}, nil
		}
	},
	"sender register": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		org := idFlag(fs, "org", "organisation id")
		name := fs.String("sender", "", "the sender shown on handsets")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			s, err := svc.RegisterSender(ctx, *org, *name)
			if err != nil {
				return result{}, err
			}
			return result{s, fmt.Sprintf("Registered sender %q for organisation %s\n  remitter_id  %s\n  status       %s (approve it before use)\n",
				s.Sender, s.OrgID, s.RemitterID, s.Status)}, nil
		}
	},
	"sender approve": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		rem := idFlag(fs, "remitter", "remitter id (sender ID)")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			if err := svc.ApproveSender(ctx, *rem); err != nil {
				return result{}, err
			}
			v := struct {
				RemitterID uuid.UUID `json:"remitter_id"`
				Status     string    `json:"status"`
			}{*rem, "APPROVED"}
			return result{v, fmt.Sprintf("Approved sender ID %s; campaigns may use it as remitter_id.\n", *rem)}, nil
		}
	},
	"sender list": func(fs *flag.FlagSet) func(context.Context, admin.Service) (result, error) {
		org := idFlag(fs, "org", "organisation id")
		return func(ctx context.Context, svc admin.Service) (result, error) {
			senders, err := svc.ListSenders(ctx, *org)
			if err != nil {
				return result{}, err
			}
			rows := [][]string{{"REMITTER_ID", "SENDER", "STATUS"}}
			for _, s := range senders {
				rows = append(rows, []string{s.RemitterID.String(), s.Sender, s.Status})
			}
			return result{senders, table(rows, "sender IDs", len(senders))}, nil
		}
	},
}

func table(rows [][]string, what string, n int) string {
	if n == 0 {
		return "No " + what + ".\n"
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush() //nolint:errcheck
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// money shows minor units as the currency's major units.
func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, pricing.Currency)
}

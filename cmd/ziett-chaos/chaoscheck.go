package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/projector"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/projections/campaigns"
	"ziett.co/campaigns/projections/ledger"
)

// chaosCounts is what the checker finds after a chaos run. Every field
// below Refunds must be zero.
type chaosCounts struct {
	Accepted  int // campaigns answered 202, one per Idempotency-Key
	Campaigns int // of them, campaigns the log has
	Messages  int // messages the processor planned
	Sent      int
	Failed    int
	Refunds   int // FundsRefunded events: failures paid back

	Lost               int   // answered 202 but absent from the log or the read model
	Doubled            int   // a key answered with two campaigns, a CampaignAccepted or CampaignProcessed twice, or a campaign no key accounts for
	Stuck              int   // not COMPLETED or FAILED in the log or the read model after the settle time
	CountMismatches    int   // Retrieve Campaign's status, counts or cost differ from the log
	ExtraMessageRows   int   // message rows the log does not plan (a duplicate row)
	MissingMessageRows int   // planned messages without a row
	WrongMessageRows   int   // rows whose status differs from the message's outcome in the log
	DoubleDebits       int   // campaigns debited more than once
	MissingDebits      int   // campaigns processed with messages and not debited
	WrongDebits        int   // a debit of another amount than the campaign's cost, or checked against more money than the log held
	StricterDebits     int   // debits checked against less money than the log held (a concurrent refund not yet read): safe, not an error
	DoubleRefunds      int   // campaigns refunded more than once
	MissingRefunds     int   // campaigns with failed messages and no refund (or a refund with none)
	WrongRefunds       int   // a refund of another amount than the failed messages' cost
	BalanceDiffLog     int64 // balance folded from the log − (credits − cost of sent messages)
	BalanceDiffLedger  int64 // the ledger read model's balance − the same
	ProviderDuplicates int   // messages a provider accepted from more than one call
	ProviderMismatches int   // sent in the log but unknown to the provider, or accepted by it and failed in the log
	OutcomesMissing    int   // planned messages without an outcome event
	OutcomesDuplicated int   // messages with more than one outcome event
	TerminalMissing    int   // campaigns without CampaignCompleted or CampaignFailed
	TerminalDuplicated int   // campaigns with more than one of them
	VerifyDifferences  int64 // rows `projections verify` finds different from a replay
	VerifyError        string

	Details []string
}

// Clean reports whether nothing was lost, doubled, stuck or wrong.
func (c chaosCounts) Clean() bool {
	return c.Lost+c.Doubled+c.Stuck+c.CountMismatches+c.ExtraMessageRows+c.MissingMessageRows+c.WrongMessageRows+
		c.DoubleDebits+c.MissingDebits+c.WrongDebits+c.DoubleRefunds+c.MissingRefunds+c.WrongRefunds+
		c.ProviderDuplicates+c.ProviderMismatches+c.OutcomesMissing+c.OutcomesDuplicated+
		c.TerminalMissing+c.TerminalDuplicated == 0 &&
		c.BalanceDiffLog == 0 && c.BalanceDiffLedger == 0 && c.VerifyDifferences == 0 && c.VerifyError == "" &&
		c.Accepted > 0
}

func (c *chaosCounts) detail(format string, a ...any) {
	if len(c.Details) < 20 {
		c.Details = append(c.Details, fmt.Sprintf(format, a...))
	}
}

// rows lists the counts in a fixed order, for the report.
func (c chaosCounts) rows() [][2]string {
	d := func(n int) string { return fmt.Sprint(n) }
	verify := fmt.Sprint(c.VerifyDifferences)
	if c.VerifyError != "" {
		verify = "error: " + c.VerifyError
	}
	return [][2]string{
		{"campaigns accepted (202)", d(c.Accepted)}, {"campaigns in the log", d(c.Campaigns)},
		{"messages planned", d(c.Messages)}, {"messages sent", d(c.Sent)}, {"messages failed", d(c.Failed)},
		{"refunds", d(c.Refunds)},
		{"lost campaigns", d(c.Lost)}, {"doubled campaigns", d(c.Doubled)}, {"stuck campaigns", d(c.Stuck)},
		{"count mismatches (Retrieve Campaign vs log)", d(c.CountMismatches)},
		{"duplicate (extra) message rows", d(c.ExtraMessageRows)}, {"missing message rows", d(c.MissingMessageRows)},
		{"message rows with a wrong status", d(c.WrongMessageRows)},
		{"double debits", d(c.DoubleDebits)}, {"missing debits", d(c.MissingDebits)}, {"wrong debits", d(c.WrongDebits)},
		{"debits checked before a concurrent refund (safe)", d(c.StricterDebits)},
		{"double refunds", d(c.DoubleRefunds)}, {"missing refunds", d(c.MissingRefunds)}, {"wrong refunds", d(c.WrongRefunds)},
		{"balance difference, log", fmt.Sprint(c.BalanceDiffLog)}, {"balance difference, ledger read model", fmt.Sprint(c.BalanceDiffLedger)},
		{"messages handed to a provider more than once", d(c.ProviderDuplicates)},
		{"provider vs log disagreements", d(c.ProviderMismatches)},
		{"outcome events missing", d(c.OutcomesMissing)}, {"outcome events duplicated", d(c.OutcomesDuplicated)},
		{"terminal events missing", d(c.TerminalMissing)}, {"terminal events duplicated", d(c.TerminalDuplicated)},
		{"projections verify: differing rows", verify},
	}
}

func (c chaosCounts) write(w io.Writer) {
	for _, r := range c.rows() {
		fmt.Fprintf(w, "  %-46s %s\n", r[0], r[1])
	}
	for _, d := range c.Details {
		fmt.Fprintf(w, "  ! %s\n", d)
	}
}

// campaignLog is one campaign's story as the log tells it.
type campaignLog struct {
	accepted, processedN, completed, failed int
	acceptedAt                              int64
	processed                               events.CampaignProcessedV1
	debits, refunds                         []int64
}

// checkChaos compares what the load generator was told (keys answered 202
// with their campaigns) with the log, the read model, the providers'
// journals and a replay of the log.
func checkChaos(ctx context.Context, brokers []string, db *pgxpool.Pool, org uuid.UUID, keys map[string]uuid.UUID,
	conflicts int, journalDir string, log *slog.Logger) (chaosCounts, error) {
	var c chaosCounts
	c.Accepted = len(keys)
	c.Doubled += conflicts
	ids := map[uuid.UUID]bool{}
	for k, id := range keys {
		if ids[id] {
			c.Doubled++
			c.detail("key %s answered with campaign %s that another key has too", k, id)
		}
		ids[id] = true
	}

	camps := map[uuid.UUID]*campaignLog{}
	get := func(id uuid.UUID) *campaignLog {
		if camps[id] == nil {
			camps[id] = &campaignLog{}
		}
		return camps[id]
	}
	var credits, logBalance int64
	type moneyIn struct{ offset, amount int64 }
	var money []moneyIn // credits and refunds, in log order (one partition)
	var decodeErr error
	err := readTopicCommitted(ctx, brokers, kafkalog.OrgEvents, func(r *kgo.Record) {
		ev, err := kafkalog.Decode(r)
		if err != nil || ev.OrgID != org {
			return
		}
		dec := func(p any) {
			if err := ev.Decode(p); err != nil && decodeErr == nil {
				decodeErr = fmt.Errorf("event %s (%s): %w", ev.ID, ev.Type, err)
			}
		}
		switch ev.Type {
		case events.FundsCredited:
			var f events.FundsCreditedV1
			dec(&f)
			credits += f.Amount
			logBalance += f.Amount
			money = append(money, moneyIn{r.Offset, f.Amount})
		case events.CampaignAccepted:
			get(ev.CampaignID).accepted++
			get(ev.CampaignID).acceptedAt = r.Offset
		case events.CampaignProcessed:
			cl := get(ev.CampaignID)
			cl.processedN++
			dec(&cl.processed)
		case events.FundsDebited:
			var f events.FundsDebitedV1
			dec(&f)
			get(ev.CampaignID).debits = append(get(ev.CampaignID).debits, f.Amount)
			logBalance -= f.Amount
			// The processor checked the debit against every debit before
			// it and the credits and refunds it had read. A refund the
			// completion monitor committed while the processor's
			// transaction was open sits before the debit in the log
			// without having been seen: the check was stricter than the
			// log, which is safe. More money than the log holds is not.
			switch {
			case f.BalanceAfter > logBalance:
				c.WrongDebits++
				c.detail("campaign %s: debit says balance %d after it, the log says %d", ev.CampaignID, f.BalanceAfter, logBalance)
			case f.BalanceAfter < logBalance:
				// Only credits and refunds after the campaign's
				// acceptance can have been unseen.
				var after int64
				for _, m := range money {
					if m.offset > get(ev.CampaignID).acceptedAt && m.offset < r.Offset {
						after += m.amount
					}
				}
				if logBalance-f.BalanceAfter > after {
					c.WrongDebits++
					c.detail("campaign %s: debit says balance %d after it, the log says %d, and only %d came in since its acceptance",
						ev.CampaignID, f.BalanceAfter, logBalance, after)
				} else {
					c.StricterDebits++
				}
			}
		case events.FundsRefunded:
			var f events.FundsRefundedV1
			dec(&f)
			get(ev.CampaignID).refunds = append(get(ev.CampaignID).refunds, f.Amount)
			logBalance += f.Amount
			money = append(money, moneyIn{r.Offset, f.Amount})
			c.Refunds++
		case events.CampaignCompleted:
			get(ev.CampaignID).completed++
		case events.CampaignFailed:
			get(ev.CampaignID).failed++
		}
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", kafkalog.OrgEvents, err)
	}
	outcomes := map[uuid.UUID][]events.Type{}
	err = readTopicCommitted(ctx, brokers, kafkalog.MessageEvents, func(r *kgo.Record) {
		ev, err := kafkalog.Decode(r)
		if err != nil || ev.OrgID != org {
			return
		}
		var o events.MessageOutcome
		if err := ev.Decode(&o); err != nil {
			decodeErr = fmt.Errorf("event %s (%s): %w", ev.ID, ev.Type, err)
			return
		}
		outcomes[o.MessageID] = append(outcomes[o.MessageID], ev.Type)
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", kafkalog.MessageEvents, err)
	}

	handed := map[uuid.UUID]int{}
	if journalDir != "" {
		files, _ := filepath.Glob(filepath.Join(journalDir, "*.journal"))
		for _, f := range files {
			j, err := smsprovider.ReadJournal(f)
			if err != nil {
				return c, err
			}
			for id, n := range j.Accepted {
				handed[id] += n
			}
		}
	}

	for id := range camps {
		if !ids[id] {
			c.Doubled++
			c.detail("campaign %s is in the log but no key was answered with it", id)
		}
	}
	idList := make([]uuid.UUID, 0, len(ids))
	for id := range ids {
		idList = append(idList, id)
	}
	views, err := campaigns.Reader{DB: db}.Views(ctx, idList)
	if err != nil {
		return c, err
	}
	rows, nrows, err := messageRows(ctx, db, idList)
	if err != nil {
		return c, err
	}
	var spent int64
	for _, id := range idList {
		cl := camps[id]
		if cl == nil || cl.accepted == 0 {
			c.Lost++
			c.detail("campaign %s was answered 202 and is not in the log", id)
			continue
		}
		c.Campaigns++
		if cl.accepted > 1 || cl.processedN > 1 {
			c.Doubled++
			c.detail("campaign %s: %d CampaignAccepted, %d CampaignProcessed", id, cl.accepted, cl.processedN)
		}
		switch n := cl.completed + cl.failed; {
		case n == 0:
			c.TerminalMissing++
		case n > 1:
			c.TerminalDuplicated++
			c.detail("campaign %s: %d CampaignCompleted, %d CampaignFailed", id, cl.completed, cl.failed)
		}
		v, inRM := views[id]
		if !inRM {
			c.Lost++
			c.detail("campaign %s is in the log but not in the read model", id)
		}
		logStatus := campaigns.StatusProcessing
		switch {
		case cl.failed > 0:
			logStatus = campaigns.StatusFailed
		case cl.completed > 0:
			logStatus = campaigns.StatusCompleted
		}
		if logStatus == campaigns.StatusProcessing || (inRM && v.Status != campaigns.StatusCompleted && v.Status != campaigns.StatusFailed) {
			c.Stuck++
			c.detail("campaign %s is %s in the log and %s in the read model", id, logStatus, v.Status)
		}

		// Messages, outcomes, providers.
		want := map[uuid.UUID]events.Recipient{}
		for _, it := range cl.processed.Items {
			if it.MessageID != uuid.Nil {
				want[it.MessageID] = it
			}
		}
		c.Messages += len(want)
		var sent, failed int
		var sentCost, failedCost int64
		for mid, it := range want {
			outs := outcomes[mid]
			switch {
			case len(outs) == 0:
				c.OutcomesMissing++
			case len(outs) > 1:
				c.OutcomesDuplicated++
				c.detail("message %s of campaign %s has %d outcomes", mid, id, len(outs))
			}
			status := ""
			if len(outs) > 0 {
				if outs[0] == events.MessageSent {
					status = "SENT"
					sent++
					sentCost += it.Cost
				} else {
					status = "FAILED"
					failed++
					failedCost += it.Cost
				}
			}
			switch n := handed[mid]; {
			case n > 1:
				c.ProviderDuplicates++
				c.detail("message %s was accepted by %s from %d calls", mid, it.Provider, n)
			case journalDir != "" && status == "SENT" && n == 0:
				c.ProviderMismatches++
				c.detail("message %s is sent in the log and unknown to %s", mid, it.Provider)
			case status == "FAILED" && n > 0:
				c.ProviderMismatches++
				c.detail("message %s failed in the log and was accepted by %s", mid, it.Provider)
			}
			rowStatus, ok := rows[id][mid]
			switch {
			case !ok:
				c.MissingMessageRows++
			case status != "" && rowStatus != status:
				c.WrongMessageRows++
				c.detail("message %s row says %s, the log %s", mid, rowStatus, status)
			}
		}
		for mid := range rows[id] {
			if _, ok := want[mid]; !ok {
				c.ExtraMessageRows++
				c.detail("campaign %s has a row for message %s the log does not plan", id, mid)
			}
		}
		// One row per recipient submitted: valid, invalid or repeated.
		if extra := nrows[id] - len(cl.processed.Items); cl.processedN > 0 && extra > 0 {
			c.ExtraMessageRows += extra
			c.detail("campaign %s has %d message rows for %d recipients", id, nrows[id], len(cl.processed.Items))
		}
		c.Sent += sent
		c.Failed += failed
		spent += sentCost

		// Debits and refunds.
		switch {
		case len(want) > 0 && len(cl.debits) == 0:
			c.MissingDebits++
			c.detail("campaign %s has %d messages and no debit", id, len(want))
		case len(cl.debits) > 1:
			c.DoubleDebits++
			c.detail("campaign %s debited %d times", id, len(cl.debits))
		case len(cl.debits) == 1 && (cl.debits[0] != cl.processed.Cost || len(want) == 0):
			c.WrongDebits++
			c.detail("campaign %s debited %d for a cost of %d", id, cl.debits[0], cl.processed.Cost)
		}
		complete := len(want) > 0 && sent+failed == len(want)
		switch {
		case len(cl.refunds) > 1:
			c.DoubleRefunds++
			c.detail("campaign %s refunded %d times", id, len(cl.refunds))
		case complete && failedCost > 0 && len(cl.refunds) == 0:
			c.MissingRefunds++
			c.detail("campaign %s: %d failed messages worth %d, no refund", id, failed, failedCost)
		case failedCost == 0 && len(cl.refunds) == 1:
			c.MissingRefunds++
			c.detail("campaign %s refunded %d with no failed message", id, cl.refunds[0])
		case len(cl.refunds) == 1 && cl.refunds[0] != failedCost:
			c.WrongRefunds++
			c.detail("campaign %s refunded %d, its failed messages cost %d", id, cl.refunds[0], failedCost)
		}

		// Retrieve Campaign tells the same story.
		if inRM {
			var refunded, debited int64
			for _, d := range cl.debits {
				debited += d
			}
			for _, r := range cl.refunds {
				refunded += r
			}
			m := v.Messages
			if v.Status != logStatus || m.Total != len(want) || m.Sent != sent || m.Failed != failed ||
				m.Queued != len(want)-sent-failed || v.Cost.Debited != debited || v.Cost.Refunded != refunded {
				c.CountMismatches++
				c.detail("campaign %s shows %s %+v debited %d refunded %d; the log says %s, %d messages, %d sent, %d failed, debited %d, refunded %d",
					id, v.Status, m, v.Cost.Debited, v.Cost.Refunded, logStatus, len(want), sent, failed, debited, refunded)
			}
		}
	}
	c.BalanceDiffLog = logBalance - (credits - spent)
	// The ledger is a projection: give it time to reach the log's end.
	deadline := time.Now().Add(30 * time.Second)
	for {
		bal, _, err := ledger.Reader{DB: db}.Funds(ctx, org)
		if err != nil {
			return c, err
		}
		c.BalanceDiffLedger = bal - (credits - spent)
		if c.BalanceDiffLedger == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	vctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rb, err := projector.NewRebuilder(projector.RebuilderConfig{Pool: db, Client: kafkalog.ClientConfig{Brokers: brokers},
		Projection: campaigns.Projection{Log: log}, Log: log})
	var rep projector.VerifyReport
	if err == nil {
		rep, err = rb.Verify(vctx)
	}
	if err != nil {
		c.VerifyError = err.Error()
	} else {
		for _, t := range rep.Tables {
			c.VerifyDifferences += t.OnlyLive + t.OnlyReplayed
		}
		if !rep.Clean() {
			c.detail("projections verify:\n%s", strings.TrimSpace(rep.String()))
		}
	}
	slices.Sort(c.Details)
	return c, nil
}

// messageRows reads the read model's message rows of the campaigns: per
// campaign, message id → status (rows of rejected recipients have no
// message id), and the number of rows (one per recipient submitted).
func messageRows(ctx context.Context, db *pgxpool.Pool, ids []uuid.UUID) (map[uuid.UUID]map[uuid.UUID]string, map[uuid.UUID]int, error) {
	rows, err := db.Query(ctx, `SELECT campaign_id, message_id, status FROM messages WHERE campaign_id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, err
	}
	out, n := map[uuid.UUID]map[uuid.UUID]string{}, map[uuid.UUID]int{}
	var cid uuid.UUID
	var mid *uuid.UUID
	var st string
	_, err = pgx.ForEachRow(rows, []any{&cid, &mid, &st}, func() error {
		n[cid]++
		if mid == nil {
			return nil
		}
		if out[cid] == nil {
			out[cid] = map[uuid.UUID]string{}
		}
		if _, dup := out[cid][*mid]; dup {
			st = "DUPLICATE ROW"
		}
		out[cid][*mid] = st
		return nil
	})
	return out, n, err
}

// readTopicCommitted calls fn for every committed record of a topic, up to each
// partition's last stable offset when it starts.
func readTopicCommitted(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record)) error {
	cl, err := kafkalog.Client(kafkalog.ClientConfig{Brokers: brokers})
	if err != nil {
		return err
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return err
	}
	var parts []kadm.ListedOffset
	offs.Each(func(o kadm.ListedOffset) { parts = append(parts, o) })
	for _, o := range parts {
		if o.Offset == 0 {
			continue
		}
		if _, err := kafkalog.ReadPartition(ctx, brokers, topic, o.Partition, 0, o.Offset, fn); err != nil {
			return err
		}
	}
	return nil
}

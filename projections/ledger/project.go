// Package ledger is the organisations' ledger read model: balances as a
// fold of FundsCredited, FundsDebited and FundsRefunded, the entries that
// make them up, and the campaigns accepted but not yet settled, whose
// estimates the command endpoint holds back when it checks funds.
package ledger

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/projections"
)

// Entry kinds.
const (
	KindCredit = "CREDIT"
	KindDebit  = "DEBIT"
	KindRefund = "REFUND"
)

// Name is the projection's name, under which its offsets are stored.
const Name = "ledger"

// Projection is the projections.Projection of the ledger.
type Projection struct{ Log *slog.Logger }

func (Projection) Name() string             { return Name }
func (Projection) Streams() []events.Stream { return []events.Stream{events.OrgStream} }

type entry struct {
	id, org, campaign uuid.UUID
	kind              string
	amount            int64
	currency          string
	reference         string
	at                time.Time
	offset            int64
	balanceAfter      int64
}

// Apply folds a batch. Balances are computed here, in log order, from the
// stored balance of each organisation; an event already applied (its entry
// exists) is skipped, so applying a record twice changes nothing. An
// organisation's events share a partition, so the order between
// partitions never matters.
func (p Projection) Apply(ctx context.Context, tx pgx.Tx, in []events.Message) error {
	var entries []entry
	b := &pgx.Batch{}
	for _, m := range in {
		e := m.Event
		en := entry{id: e.ID, org: e.OrgID, campaign: e.CampaignID, at: e.OccurredAt, offset: m.At.Offset}
		switch e.Type {
		case events.FundsCredited:
			f, err := projections.PayloadOf[events.FundsCreditedV1](e)
			if err != nil {
				return err
			}
			en.kind, en.amount, en.currency, en.reference = KindCredit, f.Amount, f.Currency, f.Reference
		case events.FundsRefunded:
			f, err := projections.PayloadOf[events.FundsRefundedV1](e)
			if err != nil {
				return err
			}
			en.kind, en.amount, en.currency = KindRefund, f.Amount, f.Currency
		case events.FundsDebited:
			f, err := projections.PayloadOf[events.FundsDebitedV1](e)
			if err != nil {
				return err
			}
			en.kind, en.amount, en.currency = KindDebit, -f.Amount, f.Currency
			if e.CampaignID != uuid.Nil {
				b.Queue(`UPDATE ledger_campaigns SET state = 'DEBITED', settled_at = $2 WHERE campaign_id = $1 AND state = 'PENDING'`,
					e.CampaignID, e.OccurredAt)
			}
		case events.CampaignAccepted:
			c, err := projections.PayloadOf[events.CampaignAcceptedV1](e)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO ledger_campaigns (campaign_id, org_id, estimated, state, accepted_at)
				VALUES ($1, $2, $3, 'PENDING', $4) ON CONFLICT (campaign_id) DO NOTHING`,
				e.CampaignID, e.OrgID, c.EstimatedCost, e.OccurredAt)
			continue
		case events.CampaignFailed, events.CampaignCancelled:
			// A cancelled campaign still pending was scheduled: it is never
			// debited. One cancelled after its debit is settled already.
			b.Queue(`UPDATE ledger_campaigns SET state = 'FAILED', settled_at = $2 WHERE campaign_id = $1 AND state = 'PENDING'`,
				e.CampaignID, e.OccurredAt)
			continue
		default:
			continue
		}
		if en.currency == "" {
			en.currency = pricing.Currency
		}
		entries = append(entries, en)
	}
	if len(entries) > 0 {
		if err := p.applyEntries(ctx, tx, entries, b); err != nil {
			return err
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// applyEntries computes running balances and queues the entries and the
// accounts' new balances.
func (p Projection) applyEntries(ctx context.Context, tx pgx.Tx, entries []entry, b *pgx.Batch) error {
	ids := make([]uuid.UUID, len(entries))
	orgSet := map[uuid.UUID]bool{}
	var orgs []uuid.UUID
	for i, en := range entries {
		ids[i] = en.id
		if !orgSet[en.org] {
			orgSet[en.org] = true
			orgs = append(orgs, en.org)
		}
	}
	applied := map[uuid.UUID]bool{}
	rows, err := tx.Query(ctx, `SELECT event_id FROM ledger_entries WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { applied[id] = true; return nil }); err != nil {
		return err
	}
	balance := map[uuid.UUID]int64{}
	rows, err = tx.Query(ctx, `SELECT org_id, balance FROM ledger_accounts WHERE org_id = ANY($1)`, orgs)
	if err != nil {
		return err
	}
	var org uuid.UUID
	var bal int64
	if _, err := pgx.ForEachRow(rows, []any{&org, &bal}, func() error { balance[org] = bal; return nil }); err != nil {
		return err
	}
	type acct struct {
		balance  int64
		currency string
		at       time.Time
	}
	touched := map[uuid.UUID]*acct{}
	for _, en := range entries {
		if applied[en.id] {
			continue
		}
		applied[en.id] = true
		balance[en.org] += en.amount
		en.balanceAfter = balance[en.org]
		var campaign *uuid.UUID
		if en.campaign != uuid.Nil {
			campaign = &en.campaign
		}
		b.Queue(`INSERT INTO ledger_entries (event_id, org_id, campaign_id, kind, amount, currency, balance_after, reference, occurred_at, log_offset)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING`,
			en.id, en.org, campaign, en.kind, en.amount, en.currency, en.balanceAfter, en.reference, en.at, en.offset)
		touched[en.org] = &acct{balance: en.balanceAfter, currency: en.currency, at: en.at}
	}
	for org, a := range touched {
		b.Queue(`INSERT INTO ledger_accounts (org_id, currency, balance, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id) DO UPDATE SET balance = excluded.balance, updated_at = excluded.updated_at`,
			org, a.currency, a.balance, a.at)
	}
	return nil
}

func (p Projection) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

package ledger

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ziett.co/campaigns/domain/pricing"
)

// Reader runs the ledger's queries.
type Reader struct{ DB *pgxpool.Pool }

// Funds is the balance and the estimates of the organisation's accepted
// campaigns that are neither debited nor failed.
func (r Reader) Funds(ctx context.Context, org uuid.UUID) (balance, pending int64, err error) {
	err = r.DB.QueryRow(ctx, `SELECT
			coalesce((SELECT balance FROM ledger_accounts WHERE org_id = $1), 0),
			coalesce((SELECT sum(estimated) FROM ledger_campaigns WHERE org_id = $1 AND state = 'PENDING'), 0)::bigint`,
		org).Scan(&balance, &pending)
	return balance, pending, err
}

// Accepted reports whether the campaign's CampaignAccepted has been
// applied.
func (r Reader) Accepted(ctx context.Context, org, campaign uuid.UUID) (bool, error) {
	var ok bool
	err := r.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ledger_campaigns WHERE campaign_id = $1 AND org_id = $2)`,
		campaign, org).Scan(&ok)
	return ok, err
}

// Entry is one movement of an organisation's balance. Amounts are integer
// minor units of Currency, signed: debits are negative.
type Entry struct {
	EventID      uuid.UUID  `json:"event_id"`
	Kind         string     `json:"kind"`
	Amount       int64      `json:"amount"`
	Currency     string     `json:"currency"`
	BalanceAfter int64      `json:"balance_after"`
	CampaignID   *uuid.UUID `json:"campaign_id"`
	Reference    string     `json:"reference"`
	OccurredAt   time.Time  `json:"occurred_at"`
}

// Balance is an organisation's ledger as the balance endpoint shows it.
type Balance struct {
	Currency string `json:"currency"`
	// Balance is credits minus debits plus refunds.
	Balance int64 `json:"balance"`
	// Pending is the estimated cost of accepted campaigns not yet debited
	// or failed.
	Pending          int64 `json:"pending"`
	PendingCampaigns int   `json:"pending_campaigns"`
	// Available is what a new campaign can be estimated at without a 402.
	Available     int64      `json:"available"`
	UpdatedAt     *time.Time `json:"updated_at"`
	RecentEntries []Entry    `json:"recent_entries"`
}

// Get reads an organisation's balance and its latest entries, newest first.
func (r Reader) Get(ctx context.Context, org uuid.UUID, entries int) (Balance, error) {
	b := Balance{Currency: pricing.Currency, RecentEntries: []Entry{}}
	var currency *string
	err := r.DB.QueryRow(ctx, `SELECT a.currency, coalesce(a.balance, 0), a.updated_at, p.amount, p.n
		FROM (SELECT coalesce(sum(estimated), 0)::bigint, count(*)::int FROM ledger_campaigns
			WHERE org_id = $1 AND state = 'PENDING') AS p(amount, n)
		LEFT JOIN ledger_accounts a ON a.org_id = $1`,
		org).Scan(&currency, &b.Balance, &b.UpdatedAt, &b.Pending, &b.PendingCampaigns)
	if err != nil {
		return b, err
	}
	if currency != nil {
		b.Currency = *currency
	}
	b.Available = b.Balance - b.Pending
	rows, err := r.DB.Query(ctx, `SELECT event_id, kind, amount, currency, balance_after, campaign_id, reference, occurred_at
		FROM ledger_entries WHERE org_id = $1 ORDER BY log_offset DESC LIMIT $2`, org, entries)
	if err != nil {
		return b, err
	}
	var e Entry
	_, err = pgx.ForEachRow(rows, []any{&e.EventID, &e.Kind, &e.Amount, &e.Currency, &e.BalanceAfter, &e.CampaignID, &e.Reference, &e.OccurredAt},
		func() error {
			b.RecentEntries = append(b.RecentEntries, e)
			e.CampaignID = nil
			return nil
		})
	return b, err
}

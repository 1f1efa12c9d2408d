package campaigns

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Statuses of Retrieve Message. A single message is QUEUED until its
// provider acknowledges it (SENT), then DELIVERED or UNDELIVERED when a
// receipt arrives (EXPIRED and REJECTED receipts read UNDELIVERED, the
// receipt's own status beside it); FAILED when it could not be sent
// (refunded).
const (
	SingleQueued      = "QUEUED"
	SingleSent        = "SENT"
	SingleDelivered   = "DELIVERED"
	SingleUndelivered = "UNDELIVERED"
	SingleFailed      = "FAILED"
)

// SingleStatuses are the statuses the message list filters by.
var SingleStatuses = []string{SingleQueued, SingleSent, SingleDelivered, SingleUndelivered, SingleFailed}

// MessageCost is what a message cost, in integer minor units of Currency.
type MessageCost struct {
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
	Refunded int64  `json:"refunded"`
}

// SingleView is the body of Retrieve Message: a single message (Send
// Message), or one message of a campaign (CampaignID set).
type SingleView struct {
	MessageID     uuid.UUID   `json:"message_id"`
	CampaignID    *uuid.UUID  `json:"campaign_id"`
	Status        string      `json:"status"`
	ChannelType   string      `json:"channel_type"`
	RemitterID    uuid.UUID   `json:"remitter_id"`
	Recipient     *string     `json:"recipient"`
	E164          *string     `json:"e164"`
	CountryAlpha2 *string     `json:"country_alpha2"`
	Provider      *string     `json:"provider"`
	Segments      *int        `json:"segments"`
	Encoding      *string     `json:"encoding"`
	Cost          MessageCost `json:"cost"`
	Reference     *string     `json:"reference"`
	Error         *Failure    `json:"error"`
	ProviderRef   *string     `json:"provider_ref"`
	Attempts      int         `json:"attempts"`
	CreatedAt     time.Time   `json:"created_at"`
	QueuedAt      *time.Time  `json:"queued_at"`
	SentAt        *time.Time  `json:"sent_at"`
	FailedAt      *time.Time  `json:"failed_at"`
	// ReceiptAt is when the operator's delivery receipt says the message
	// reached its final state (DELIVERED or UNDELIVERED); ReceiptStatus
	// is the receipt's own status (DELIVERED, UNDELIVERED, EXPIRED,
	// REJECTED), ReceiptStat its raw stat field.
	ReceiptAt     *time.Time `json:"receipt_at"`
	ReceiptStatus *string    `json:"receipt_status"`
	ReceiptStat   *string    `json:"receipt_stat"`
}

// singleStatusSQL turns a message row (m, possibly absent yet) and its
// campaigns row (c) into a Retrieve Message status, in SQL so that the
// list filters by the status it shows.
const singleStatusSQL = `CASE
	WHEN m.status IS NULL OR m.status = 'QUEUED' THEN CASE WHEN c.status = 'FAILED' THEN 'FAILED' ELSE 'QUEUED' END
	WHEN m.status IN ('CANCELLED', 'INVALID', 'DUPLICATE') THEN 'FAILED'
	WHEN m.status IN ('EXPIRED', 'REJECTED') THEN 'UNDELIVERED'
	ELSE m.status END`

const singleColumns = `c.campaign_id, c.kind, ` + singleStatusSQL + `, c.channel_type, c.remitter_id,
	coalesce(m.input, c.recipient), coalesce(m.e164, c.e164), NULLIF(c.country_alpha2, ''), m.provider,
	coalesce(m.segments, NULLIF(c.segments_per_message, 0)), c.encoding,
	c.currency, coalesce(m.cost, c.cost_estimated), c.cost_debited, c.cost_refunded, c.reference,
	coalesce(m.error_code, c.failure_code), coalesce(m.error, c.failure_message), m.provider_ref, coalesce(m.attempts, 0),
	c.created_at, m.queued_at, m.done_at, m.message_id, m.status, m.receipt_at, m.receipt_stat`

func scanSingle(row pgx.Row) (SingleView, error) {
	var v SingleView
	var cid uuid.UUID
	var kind string
	var code, text *string
	var debited, refunded int64
	var done *time.Time
	var mid *uuid.UUID
	var rowStatus *string
	err := row.Scan(&cid, &kind, &v.Status, &v.ChannelType, &v.RemitterID, &v.Recipient, &v.E164, &v.CountryAlpha2,
		&v.Provider, &v.Segments, &v.Encoding, &v.Cost.Currency, &v.Cost.Amount, &debited, &refunded, &v.Reference,
		&code, &text, &v.ProviderRef, &v.Attempts, &v.CreatedAt, &v.QueuedAt, &done, &mid, &rowStatus, &v.ReceiptAt, &v.ReceiptStat)
	if err != nil {
		return v, err
	}
	if kind == KindMessage {
		v.MessageID = cid
		if debited > 0 {
			v.Cost.Amount = debited
		}
		v.Cost.Refunded = refunded
	} else {
		v.CampaignID = &cid
		if mid != nil {
			v.MessageID = *mid
		}
		if v.Status == SingleFailed && rowStatus != nil && *rowStatus == MessageFailed {
			v.Cost.Refunded = v.Cost.Amount
		}
	}
	if code != nil || text != nil {
		v.Error = &Failure{}
		if code != nil {
			v.Error.Code = *code
		}
		if text != nil {
			v.Error.Message = *text
		}
	}
	if v.ReceiptAt != nil && rowStatus != nil {
		v.ReceiptStatus = rowStatus
	}
	switch v.Status {
	case SingleQueued:
	case SingleFailed:
		v.FailedAt = done
	default:
		v.SentAt = done
	}
	return v, nil
}

// Single reads a message of the organisation by its id: a single message
// (whose id is its campaigns row's), or a campaign's message.
func (r Reader) Single(ctx context.Context, org, id uuid.UUID) (SingleView, error) {
	v, err := scanSingle(r.DB.QueryRow(ctx, `SELECT `+singleColumns+`
		FROM campaigns c LEFT JOIN messages m ON m.campaign_id = c.campaign_id AND m.idx = 0
		WHERE c.campaign_id = $1 AND c.org_id = $2 AND c.kind = 'message'`, id, org))
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return v, err
	}
	v, err = scanSingle(r.DB.QueryRow(ctx, `SELECT `+singleColumns+`
		FROM messages m JOIN campaigns c ON c.campaign_id = m.campaign_id
		WHERE m.message_id = $1 AND m.org_id = $2 AND c.org_id = $2`, id, org))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// SingleQuery selects an organisation's single messages, newest first.
type SingleQuery struct {
	Statuses  []string
	Reference string // exact
	E164      string // exact
	From, To  time.Time
	After     *ListCursor
	Limit     int
}

// Singles lists an organisation's single messages and whether more follow.
func (r Reader) Singles(ctx context.Context, org uuid.UUID, q SingleQuery) ([]SingleView, bool, error) {
	sql := `SELECT ` + singleColumns + `
		FROM campaigns c LEFT JOIN messages m ON m.campaign_id = c.campaign_id AND m.idx = 0
		WHERE c.org_id = $1 AND c.kind = 'message'`
	args := []any{org}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(q.Statuses) > 0 {
		sql += ` AND (` + singleStatusSQL + `) = ANY(` + arg(q.Statuses) + `)`
	}
	if q.Reference != "" {
		sql += ` AND c.reference = ` + arg(q.Reference)
	}
	if q.E164 != "" {
		sql += ` AND c.e164 = ` + arg(q.E164)
	}
	if !q.From.IsZero() {
		sql += ` AND c.created_at >= ` + arg(q.From)
	}
	if !q.To.IsZero() {
		sql += ` AND c.created_at < ` + arg(q.To)
	}
	if q.After != nil {
		sql += ` AND (c.created_at, c.campaign_id) < (` + arg(q.After.CreatedAt) + `, ` + arg(q.After.ID) + `)`
	}
	sql += ` ORDER BY c.created_at DESC, c.campaign_id DESC LIMIT ` + arg(q.Limit+1)
	rows, err := r.DB.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SingleView, error) { return scanSingle(row) })
	if err != nil {
		return nil, false, err
	}
	more := len(vs) > q.Limit
	if more {
		vs = vs[:q.Limit]
	}
	return vs, more, nil
}

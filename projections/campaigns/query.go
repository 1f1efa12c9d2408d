package campaigns

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/domain/campaign"
)

// ErrNotFound covers both a missing campaign and another organisation's:
// callers must not be able to tell them apart.
var ErrNotFound = errors.New("campaign not found")

type Recipients struct {
	Submitted  int `json:"submitted"`
	Valid      int `json:"valid"`
	Invalid    int `json:"invalid"`
	Duplicates int `json:"duplicates"`
	// Suppressed are valid numbers on the organisation's suppression list:
	// no message, not billed.
	Suppressed int `json:"suppressed"`
}

// Messages counts a campaign's messages by what became of them. Sent
// counts every message a provider accepted, whether or not its delivery
// receipt has come; Delivered, Undelivered, Expired and Rejected count the
// sent messages whose receipts decided them, and DeliveryRate is Delivered
// over Sent (0 before anything is sent).
type Messages struct {
	Total        int     `json:"total"`
	Queued       int     `json:"queued"`
	Sent         int     `json:"sent"`
	Failed       int     `json:"failed"`
	Delivered    int     `json:"delivered"`
	Undelivered  int     `json:"undelivered"`
	Expired      int     `json:"expired"`
	Rejected     int     `json:"rejected"`
	DeliveryRate float64 `json:"delivery_rate"`
	// Cancelled messages were never handed to a provider because their
	// campaign was cancelled; they are refunded.
	Cancelled int `json:"cancelled"`
}

// count adds n messages of status st.
func (m *Messages) count(st string, n int) {
	switch st {
	case MessageFailed:
		m.Failed += n
	case MessageCancelled:
		m.Cancelled += n
	case MessageSent:
		m.Sent += n
	case MessageDelivered:
		m.Sent += n
		m.Delivered += n
	case MessageUndelivered:
		m.Sent += n
		m.Undelivered += n
	case MessageExpired:
		m.Sent += n
		m.Expired += n
	case MessageRejected:
		m.Sent += n
		m.Rejected += n
	}
}

func (m *Messages) rate() {
	m.DeliveryRate = 0
	if m.Sent > 0 {
		m.DeliveryRate = float64(m.Delivered) / float64(m.Sent)
	}
}

type Segments struct {
	Encoding   *string  `json:"encoding"`
	PerMessage int      `json:"per_message"`
	Total      int      `json:"total"`
	UCS2Chars  []string `json:"ucs2_chars"`
}

// Cost amounts are integer minor units of Currency.
type Cost struct {
	Currency  string `json:"currency"`
	Estimated int64  `json:"estimated"`
	Debited   int64  `json:"debited"`
	Refunded  int64  `json:"refunded"`
	Net       int64  `json:"net"`
}

type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// View is the body of Retrieve Campaign.
type View struct {
	CampaignID    uuid.UUID           `json:"campaign_id"`
	Name          string              `json:"name"`
	Status        string              `json:"status"`
	ChannelType   string              `json:"channel_type"`
	RemitterID    uuid.UUID           `json:"remitter_id"`
	CountryAlpha2 string              `json:"country_alpha2"`
	CreatedAt     time.Time           `json:"created_at"`
	ProcessedAt   *time.Time          `json:"processed_at"`
	SendingAt     *time.Time          `json:"sending_at"`
	CompletedAt   *time.Time          `json:"completed_at"`
	FailedAt      *time.Time          `json:"failed_at"`
	SendAt        *time.Time          `json:"send_at"`
	ScheduledAt   *time.Time          `json:"scheduled_at"`
	PausedAt      *time.Time          `json:"paused_at"`
	ResumedAt     *time.Time          `json:"resumed_at"`
	CancelledAt   *time.Time          `json:"cancelled_at"`
	Recipients    Recipients          `json:"recipients"`
	Messages      Messages            `json:"messages"`
	Progress      float64             `json:"progress"`
	Providers     map[string]Messages `json:"providers"`
	Segments      Segments            `json:"segments"`
	Cost          Cost                `json:"cost"`
	Failure       *Failure            `json:"failure"`
	// Kind is KindCampaign, or KindMessage for a single message's row
	// (only Views returns those).
	Kind string `json:"-"`
}

// Reader runs the read model's queries. Every query is scoped by the
// caller's organisation: another organisation's rows are not found.
type Reader struct{ DB Querier }

// Querier is what the queries need: a pool, or a transaction when rows not
// yet committed must be seen (the webhook outbox reads the campaign it
// announces inside the projector's transaction).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// viewColumns are the campaigns columns scanView reads, in its order.
const viewColumns = `campaign_id, name, status, channel_type, remitter_id, country_alpha2,
	created_at, processed_at, sending_at, completed_at, failed_at, submitted, valid, invalid, duplicates,
	msg_total, encoding, segments_per_message, segments_total, ucs2_chars, currency,
	cost_estimated, cost_debited, cost_refunded, failure_code, failure_message, kind,
	send_at, scheduled_at, paused_at, resumed_at, cancelled_at, suppressed`

func scanView(row pgx.Row) (View, error) {
	var v View
	var fcode, fmsg *string
	err := row.Scan(
		&v.CampaignID, &v.Name, &v.Status, &v.ChannelType, &v.RemitterID, &v.CountryAlpha2,
		&v.CreatedAt, &v.ProcessedAt, &v.SendingAt, &v.CompletedAt, &v.FailedAt,
		&v.Recipients.Submitted, &v.Recipients.Valid, &v.Recipients.Invalid, &v.Recipients.Duplicates,
		&v.Messages.Total, &v.Segments.Encoding, &v.Segments.PerMessage, &v.Segments.Total, &v.Segments.UCS2Chars,
		&v.Cost.Currency, &v.Cost.Estimated, &v.Cost.Debited, &v.Cost.Refunded, &fcode, &fmsg, &v.Kind,
		&v.SendAt, &v.ScheduledAt, &v.PausedAt, &v.ResumedAt, &v.CancelledAt, &v.Recipients.Suppressed)
	if err != nil {
		return v, err
	}
	if fcode != nil {
		v.Failure = &Failure{Code: *fcode}
		if fmsg != nil {
			v.Failure.Message = *fmsg
		}
	}
	v.Providers = map[string]Messages{}
	v.Cost.Net = v.Cost.Debited - v.Cost.Refunded
	return v, nil
}

// Get reads one campaign of one organisation.
func (r Reader) Get(ctx context.Context, org, id uuid.UUID) (View, error) {
	v, err := scanView(r.DB.QueryRow(ctx, `SELECT `+viewColumns+` FROM campaigns WHERE campaign_id = $1 AND org_id = $2 AND kind = 'campaign'`, id, org))
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, ErrNotFound
	}
	if err != nil {
		return View{}, err
	}
	vs := []View{v}
	if err := r.countMessages(ctx, vs); err != nil {
		return View{}, err
	}
	return vs[0], nil
}

// Views reads campaigns by id, whatever their organisation, for callers
// that hold ids from the log (the webhook outbox): two queries for any
// number of campaigns. Ids not in the read model are absent from the map.
func (r Reader) Views(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]View, error) {
	rows, err := r.DB.Query(ctx, `SELECT `+viewColumns+` FROM campaigns WHERE campaign_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (View, error) { return scanView(row) })
	if err != nil {
		return nil, err
	}
	if err := r.countMessages(ctx, vs); err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]View, len(vs))
	for _, v := range vs {
		out[v.CampaignID] = v
	}
	return out, nil
}

// countedStatuses are the statuses of planned messages (not INVALID or
// DUPLICATE recipients). CANCELLED rows of a failed campaign are skipped
// when counted: they never became messages.
var countedStatuses = append([]string{MessageQueued, MessageSent, MessageFailed, MessageCancelled}, receiptStatuses...)

// countMessages fills in the message counts, which are read from the
// messages rows rather than kept as counters (see the projection).
func (r Reader) countMessages(ctx context.Context, vs []View) error {
	if len(vs) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(vs))
	at := make(map[uuid.UUID]int, len(vs))
	for i, v := range vs {
		ids[i], at[v.CampaignID] = v.CampaignID, i
	}
	rows, err := r.DB.Query(ctx, `SELECT campaign_id, provider, status, count(*) FROM messages
		WHERE campaign_id = ANY($1) AND status = ANY($2) GROUP BY campaign_id, provider, status`,
		ids, countedStatuses)
	if err != nil {
		return err
	}
	var id uuid.UUID
	var prov, st string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &prov, &st, &n}, func() error {
		v := &vs[at[id]]
		if st == MessageCancelled && v.Status == StatusFailed {
			// Planned messages of a campaign that failed before queueing
			// them: never messages, not counted.
			return nil
		}
		pm := v.Providers[prov]
		pm.count(st, n)
		v.Messages.count(st, n)
		pm.Total += n
		v.Providers[prov] = pm
		return nil
	})
	if err != nil {
		return err
	}
	for i := range vs {
		v := &vs[i]
		for k, pm := range v.Providers {
			pm.Queued = pm.Total - pm.Sent - pm.Failed - pm.Cancelled
			pm.rate()
			v.Providers[k] = pm
		}
		v.Messages.rate()
		done := v.Messages.Sent + v.Messages.Failed + v.Messages.Cancelled
		v.Messages.Queued = max(0, v.Messages.Total-done)
		switch {
		case v.Status == StatusCompleted || v.Status == StatusFailed:
			v.Progress = 1
		case v.Messages.Total > 0:
			v.Progress = float64(done) / float64(v.Messages.Total)
		}
	}
	return nil
}

// ListQuery selects campaigns of one organisation, newest first.
type ListQuery struct {
	Statuses []string  // any of these; all when empty
	From     time.Time // created at or after; unbounded when zero
	To       time.Time // created before; unbounded when zero
	Name     string    // case-insensitive substring of the name
	After    *ListCursor
	Limit    int
}

// ListCursor is the position after the last campaign of a page. Paging by
// (created_at, campaign_id), both immutable, neither skips nor repeats a
// campaign when newer ones arrive between pages.
type ListCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// List returns up to q.Limit campaigns and whether more follow.
func (r Reader) List(ctx context.Context, org uuid.UUID, q ListQuery) ([]View, bool, error) {
	// No stored name holds text PostgreSQL cannot take (NUL, invalid
	// UTF-8), so a search for it matches nothing; asking PostgreSQL would
	// only fail. The API refuses such a search; other callers need not.
	if q.Name != "" && (strings.IndexByte(q.Name, 0) >= 0 || !utf8.ValidString(q.Name)) {
		return nil, false, nil
	}
	sql := `SELECT ` + viewColumns + ` FROM campaigns WHERE org_id = $1 AND kind = 'campaign'`
	args := []any{org}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(q.Statuses) > 0 {
		sql += ` AND status = ANY(` + arg(q.Statuses) + `)`
	}
	if !q.From.IsZero() {
		sql += ` AND created_at >= ` + arg(q.From)
	}
	if !q.To.IsZero() {
		sql += ` AND created_at < ` + arg(q.To)
	}
	if q.Name != "" {
		sql += ` AND name ILIKE ` + arg("%"+likeEscaper.Replace(q.Name)+"%")
	}
	if q.After != nil {
		sql += ` AND (created_at, campaign_id) < (` + arg(q.After.CreatedAt) + `, ` + arg(q.After.ID) + `)`
	}
	sql += ` ORDER BY created_at DESC, campaign_id DESC LIMIT ` + arg(q.Limit+1)
	rows, err := r.DB.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (View, error) { return scanView(row) })
	if err != nil {
		return nil, false, err
	}
	more := len(vs) > q.Limit
	if more {
		vs = vs[:q.Limit]
	}
	if err := r.countMessages(ctx, vs); err != nil {
		return nil, false, err
	}
	return vs, more, nil
}

// likeEscaper makes a search term match literally in ILIKE (whose default
// escape character is the backslash).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Message is one submitted recipient of a campaign and what became of it.
// Money is in integer minor units of Currency.
type Message struct {
	Index       int        `json:"index"`
	MessageID   *uuid.UUID `json:"message_id"`
	Recipient   *string    `json:"recipient"`
	E164        *string    `json:"e164"`
	Status      string     `json:"status"`
	Provider    *string    `json:"provider"`
	Segments    *int       `json:"segments"`
	Cost        int64      `json:"cost"`
	Currency    string     `json:"currency"`
	Error       *Failure   `json:"error"`
	ProviderRef *string    `json:"provider_ref"`
	Attempts    int        `json:"attempts"`
	CreatedAt   *time.Time `json:"created_at"`
	SentAt      *time.Time `json:"sent_at"`
	FailedAt    *time.Time `json:"failed_at"`
	// DeliveredAt is when the operator delivered the message (its
	// receipt's done date), for DELIVERED messages.
	DeliveredAt *time.Time `json:"delivered_at"`
	// Receipt is the operator's delivery receipt, once one decided the
	// message (DELIVERED, UNDELIVERED, EXPIRED or REJECTED).
	Receipt *Receipt `json:"receipt"`
}

// Receipt is what the operator's delivery receipt said: its raw stat and
// err fields (of the part that decided a multi-part message) and when the
// operator reached that state.
type Receipt struct {
	Stat   string    `json:"stat"`
	Err    string    `json:"err"`
	DoneAt time.Time `json:"done_at"`
}

// MessageQuery selects a campaign's recipients in submission order.
type MessageQuery struct {
	Statuses   []string // any of these; all when empty
	AfterIndex int      // only recipients after this index; -1 for the first page
	Limit      int
}

// Messages returns up to q.Limit recipients of a campaign and whether more
// follow, or ErrNotFound when the campaign is not the organisation's.
func (r Reader) Messages(ctx context.Context, org, campaign uuid.UUID, q MessageQuery) ([]Message, bool, error) {
	var ok bool
	if err := r.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaigns WHERE campaign_id = $1 AND org_id = $2 AND kind = 'campaign')`,
		campaign, org).Scan(&ok); err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, ErrNotFound
	}
	sql := `SELECT idx, message_id, input, e164, status, provider, segments, cost, currency, error_code, error,
			provider_ref, attempts, queued_at, done_at, receipt_at, receipt_stat, receipt_err
		FROM messages WHERE campaign_id = $1 AND org_id = $2 AND idx > $3`
	args := []any{campaign, org, q.AfterIndex}
	if len(q.Statuses) > 0 {
		args = append(args, q.Statuses)
		sql += ` AND status = ANY($4)`
	}
	args = append(args, q.Limit+1)
	sql += ` ORDER BY idx LIMIT $` + strconv.Itoa(len(args))
	rows, err := r.DB.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Message, error) {
		var m Message
		var code, text *string
		var done, rat *time.Time
		var rstat, rerr *string
		err := row.Scan(&m.Index, &m.MessageID, &m.Recipient, &m.E164, &m.Status, &m.Provider, &m.Segments,
			&m.Cost, &m.Currency, &code, &text, &m.ProviderRef, &m.Attempts, &m.CreatedAt, &done, &rat, &rstat, &rerr)
		if rat != nil {
			m.Receipt = &Receipt{DoneAt: *rat}
			if rstat != nil {
				m.Receipt.Stat = *rstat
			}
			if rerr != nil {
				m.Receipt.Err = *rerr
			}
			if m.Status != MessageDelivered && code == nil {
				// The receipt's error is the message's.
				f := receiptError(m.Status, m.Receipt.Stat, m.Receipt.Err)
				code, text = &f.Code, &f.Message
			}
		}
		if code != nil || text != nil {
			m.Error = &Failure{}
			if code != nil {
				m.Error.Code = *code
			}
			if text != nil {
				m.Error.Message = *text
			}
		}
		switch m.Status {
		case MessageSent:
			m.SentAt = done
		case MessageFailed, MessageCancelled:
			m.FailedAt = done
		case MessageDelivered:
			m.SentAt, m.DeliveredAt = done, rat
		case MessageUndelivered, MessageExpired, MessageRejected:
			m.SentAt = done
		}
		return m, err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(ms) > q.Limit
	if more {
		ms = ms[:q.Limit]
	}
	return ms, more, nil
}

// Stopped returns the status of each of the campaigns that its customer
// paused or cancelled (dispatch.Controls).
func (r Reader) Stopped(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]campaign.Status, error) {
	rows, err := r.DB.Query(ctx, `SELECT campaign_id, status FROM campaigns WHERE campaign_id = ANY($1) AND status IN ($2, $3)`,
		ids, StatusPaused, StatusCancelled)
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]campaign.Status{}
	var id uuid.UUID
	var st string
	_, err = pgx.ForEachRow(rows, []any{&id, &st}, func() error {
		out[id] = campaign.Status(st)
		return nil
	})
	return out, err
}

// DueScheduled returns up to limit scheduled campaigns whose send_at has
// come, with their organisations.
func (r Reader) DueScheduled(ctx context.Context, now time.Time, limit int) (map[uuid.UUID]uuid.UUID, error) {
	rows, err := r.DB.Query(ctx, `SELECT campaign_id, org_id FROM campaigns WHERE status = $1 AND send_at <= $2 ORDER BY send_at LIMIT $3`,
		StatusScheduled, now, limit)
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]uuid.UUID{}
	var id, org uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&id, &org}, func() error {
		out[id] = org
		return nil
	})
	return out, err
}

// Status is one campaign's status (control.Campaigns); a single message is
// not found.
func (r Reader) Status(ctx context.Context, org, id uuid.UUID) (campaign.Status, error) {
	var st string
	// Single messages are campaigns of kind 'message' in this table; they
	// have no pause or cancel.
	err := r.DB.QueryRow(ctx, `SELECT status FROM campaigns WHERE campaign_id = $1 AND org_id = $2 AND kind = 'campaign'`, id, org).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return campaign.Status(st), err
}

// receiptError is the error a message shows after a receipt that did not
// deliver it.
func receiptError(status, stat, errc string) *Failure {
	f := &Failure{Code: "RECEIPT_" + status, Message: "The operator reported " + stat}
	if errc != "" {
		f.Message += " (error " + errc + ")"
	}
	return f
}

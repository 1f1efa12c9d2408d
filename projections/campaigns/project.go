// Package campaigns is the campaign read model: the rows behind Retrieve
// Campaign and the message list, and the queries that read them.
package campaigns

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/optout"
	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/sms"
	"ziett.co/campaigns/projections"
)

// Status values of a campaign as customers see them: the domain's
// (campaign.Status), as the strings the rows and responses hold.
const (
	StatusScheduled  = string(campaign.StatusScheduled)
	StatusProcessing = string(campaign.StatusProcessing)
	StatusSending    = string(campaign.StatusSending)
	StatusPaused     = string(campaign.StatusPaused)
	StatusCompleted  = string(campaign.StatusCompleted)
	StatusFailed     = string(campaign.StatusFailed)
	StatusCancelled  = string(campaign.StatusCancelled)
)

// Webhook event names of transitions that a status alone does not name.
const EventResumed = "campaign.resumed"

// Status values of a message (one per submitted recipient). INVALID and
// DUPLICATE recipients get no message; CANCELLED ones were planned but
// their campaign failed before they were queued.
const (
	MessageQueued    = "QUEUED"
	MessageSent      = "SENT"
	MessageFailed    = "FAILED"
	MessageInvalid   = "INVALID"
	MessageDuplicate = "DUPLICATE"
	MessageCancelled = "CANCELLED"
	// MessageSuppressed: the number is on the organisation's suppression
	// list; no message, not billed.
	MessageSuppressed = "SUPPRESSED"
	// After a delivery receipt (a SENT message moves on to one of these).
	MessageDelivered   = events.ReceiptDelivered
	MessageUndelivered = events.ReceiptUndelivered
	MessageExpired     = events.ReceiptExpired
	MessageRejected    = events.ReceiptRejected
)

// receiptStatuses are the statuses a delivery receipt gives: each implies
// SENT.
var receiptStatuses = []string{MessageDelivered, MessageUndelivered, MessageExpired, MessageRejected}

// Kinds of a campaigns row: a campaign, or a single message (Send
// Message), which is a campaign of one recipient whose id is the message's.
const (
	KindCampaign = "campaign"
	KindMessage  = "message"
)

// Change is a campaign status transition applied by a batch.
type Change struct {
	EventID    uuid.UUID // the event that caused it: a stable id for consumers
	CampaignID uuid.UUID
	OrgID      uuid.UUID
	Status     string
	At         time.Time
	// Event, when set, names the change for webhooks instead of its status
	// (a resumed campaign is SENDING again).
	Event string
	// Message, when set, is the index of the message whose status this is
	// (a receipt's decision, or a failure) rather than the campaign's.
	Message *int
}

// Projection is the projections.Projection of the campaign read model.
type Projection struct {
	Log *slog.Logger
	// OnChange, when set, runs in the batch's transaction after the rows
	// are written, so whatever it records (the webhook outbox) commits
	// exactly when the read model does.
	OnChange func(ctx context.Context, tx pgx.Tx, changes []Change) error
}

func (Projection) Name() string { return "campaigns" }
func (Projection) Streams() []events.Stream {
	return []events.Stream{events.OrgStream, events.MessageStream}
}

// ReplayByCampaign implements projections.ByCampaign: every row is a
// campaign's, and applying one campaign's events never reads another's
// rows.
func (Projection) ReplayByCampaign() {}

// outcome is one message result, gathered so a batch writes them at once.
type outcome struct {
	id, campaign, org  uuid.UUID
	idx                int
	provider, status   string
	cost               int64
	currency           string
	ref, code, errText string
	attempts           int
	at                 time.Time
}

// Apply writes a batch. Statements are idempotent (upserts, guarded status
// moves), so replaying an event already applied changes nothing.
func (p Projection) Apply(ctx context.Context, tx pgx.Tx, in []events.Message) error {
	var outs []outcome
	var rcpts []receipt
	var changes []Change
	touched := map[uuid.UUID]bool{}
	b := &pgx.Batch{}
	for _, m := range in {
		e := m.Event
		if e.CampaignID != uuid.Nil {
			touched[e.CampaignID] = true
		}
		switch e.Type {
		case events.MessageHeld:
			// The message stays QUEUED: it goes back on its queue on resume.
		case events.MessageSent, events.MessageFailed, events.MessageCancelled:
			oe, err := projections.PayloadOf[events.OutcomeEvent](e)
			if err != nil {
				return err
			}
			o := oe.Outcome()
			st := MessageSent
			switch e.Type {
			case events.MessageFailed:
				st = MessageFailed
			case events.MessageCancelled:
				st = MessageCancelled
			}
			outs = append(outs, outcome{id: o.MessageID, campaign: e.CampaignID, org: e.OrgID, idx: o.Index,
				provider: o.Provider, status: st, cost: o.Cost, currency: o.Currency, ref: o.ProviderRef,
				code: o.ErrorCode, errText: o.Error, attempts: o.Attempts, at: e.OccurredAt})
			if st == MessageFailed {
				idx := o.Index
				changes = append(changes, Change{EventID: e.ID, CampaignID: e.CampaignID, OrgID: e.OrgID, Status: st, At: e.OccurredAt, Message: &idx})
			}
		case events.MessageDelivered, events.MessageUndelivered:
			re, err := projections.PayloadOf[events.ReceiptEvent](e)
			if err != nil {
				return err
			}
			m := re.DeliveryReceipt()
			rcpts = append(rcpts, receipt{id: m.MessageID, campaign: e.CampaignID, org: e.OrgID, idx: m.Index,
				provider: m.Provider, status: m.Status, refs: m.ProviderRefs, stat: m.Stat, err: m.Err, at: m.DoneAt})
			// A receipt changes a message's status: its webhook
			// (message.delivered, message.undelivered) is recorded from
			// this change, for endpoints that subscribe to message events.
			idx := m.Index
			changes = append(changes, Change{EventID: e.ID, CampaignID: e.CampaignID, OrgID: e.OrgID, Status: m.Status, At: e.OccurredAt, Message: &idx})
		default:
			if err := queueOrgEvent(b, e); err != nil {
				return err
			}
			// The state machine says which status change the event
			// announces (a completion is announced by completeReady).
			if st, ok := campaign.Announced(m); ok {
				c := Change{EventID: e.ID, CampaignID: e.CampaignID, OrgID: e.OrgID, Status: string(st), At: e.OccurredAt}
				if e.Type == events.CampaignResumed {
					c.Event = EventResumed
				}
				changes = append(changes, c)
			}
		}
	}
	if len(outs) > 0 {
		queueOutcomes(b, outs)
	}
	if len(rcpts) > 0 {
		queueReceipts(b, rcpts)
	}
	if b.Len() > 0 {
		if err := lockCampaigns(ctx, tx, touched); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		done, err := completeReady(ctx, tx, touched)
		if err != nil {
			return err
		}
		changes = append(changes, done...)
	}
	if p.OnChange != nil && len(changes) > 0 {
		return p.OnChange(ctx, tx, changes)
	}
	return nil
}

// lockCampaigns serialises the batches that touch the same campaigns. With
// several projector instances, the batch applying a campaign's last outcome
// and the one noting its completion can run at once, each blind to the
// other's uncommitted rows, and neither would show COMPLETED. A transaction
// lock per campaign, taken before any write, makes the later batch wait
// for the earlier one and then see its rows (each statement reads what is
// committed when it starts). An advisory lock works before the campaign's
// row exists; taking them in key order rules out deadlocks between
// batches. Unrelated campaigns that share a key only wait for each other.
func lockCampaigns(ctx context.Context, tx pgx.Tx, ids map[uuid.UUID]bool) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]int64, 0, len(ids))
	for id := range ids {
		keys = append(keys, int64(binary.BigEndian.Uint64(id[8:])))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	_, err := tx.Exec(ctx, `SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k`, keys)
	return err
}

// completeReady shows COMPLETED for each campaign of the batch whose
// completion has been read and whose message rows all show an outcome. The
// completion and the outcomes come from partitions that Kafka does not
// order against each other, so either may be applied last; whichever batch
// applies it makes the switch, and the webhook for it. Only the batch's
// campaigns can have become complete: the batch that wrote a campaign's
// other half committed before this one took the campaign's lock. Queued
// messages are looked for from the last index down: outcomes arrive
// roughly in index order, so an incomplete campaign is told at its first
// rows instead of after scanning past every sent one (a replay asks this of
// every campaign of every batch).
func completeReady(ctx context.Context, tx pgx.Tx, touched map[uuid.UUID]bool) ([]Change, error) {
	ids := make([]uuid.UUID, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	to, from := move(events.CampaignCompleted)
	rows, err := tx.Query(ctx, `UPDATE campaigns c SET status = $1, completed_at = c.completion_at
		WHERE c.campaign_id = ANY($4) AND c.completion_event_id IS NOT NULL AND c.status = ANY($2)
			AND (SELECT m.idx FROM messages m WHERE m.campaign_id = c.campaign_id AND m.status = $3
				ORDER BY m.idx DESC LIMIT 1) IS NULL
		RETURNING c.completion_event_id, c.campaign_id, c.org_id, c.completion_at`,
		to, from, MessageQueued, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Change, error) {
		c := Change{Status: to}
		err := r.Scan(&c.EventID, &c.CampaignID, &c.OrgID, &c.At)
		return c, err
	})
}

// move is the state machine's move of event t (domain/campaign) as a
// statement's parameters: the status t moves a campaign to, and the
// statuses it moves it out of, which the statement's guard
// (status = ANY(from)) allows; from any other status the statement leaves
// the status as it is.
func move(t events.Type) (to string, from []string) {
	st, _ := campaign.To(t)
	for _, s := range campaign.From(t) {
		from = append(from, string(s))
	}
	return string(st), from
}

func queueOrgEvent(b *pgx.Batch, e events.Envelope) error {
	at := e.OccurredAt
	switch e.Type {
	case events.CampaignAccepted:
		c, err := projections.PayloadOf[events.CampaignAcceptedV1](e)
		if err != nil {
			return err
		}
		kind, ref, rcpt, e164, enc, segs := KindCampaign, (*string)(nil), (*string)(nil), (*string)(nil), (*string)(nil), 0
		if c.IsMessage() {
			// What Retrieve Message shows before the processing is
			// projected (the outcome, on another topic, may come first):
			// the API checked the number, so it normalizes the same way.
			kind = KindMessage
			if c.Reference != "" {
				ref = &c.Reference
			}
			if len(c.Recipients) == 1 {
				rcpt = &c.Recipients[0]
				if n, reason := phone.Normalize(c.Recipients[0], c.CountryAlpha2); reason == "" {
					e164 = &n.E164
				}
			}
			seg := sms.Analyze(c.Content)
			encs := string(seg.Encoding)
			enc, segs = &encs, seg.Segments
		}
		// The campaign's first status: the machine moves it only from
		// none, which the insert that does nothing on conflict is.
		to, _ := move(e.Type)
		b.Queue(`INSERT INTO campaigns (campaign_id, org_id, name, status, channel_type, remitter_id, country_alpha2,
				created_at, submitted, currency, cost_estimated, kind, reference, recipient, e164, encoding, segments_per_message)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (campaign_id) DO NOTHING`,
			e.CampaignID, e.OrgID, c.Name, to, c.ChannelType, c.RemitterID, c.CountryAlpha2,
			at, len(c.Recipients), c.Currency, c.EstimatedCost, kind, ref, rcpt, e164, enc, segs)
	case events.CampaignProcessed:
		c, err := projections.PayloadOf[events.CampaignProcessedV1](e)
		if err != nil {
			return err
		}
		ucs2 := c.UCS2Chars
		if ucs2 == nil {
			ucs2 = []string{}
		}
		// A campaign that failed before its messages were queued keeps a
		// message total of zero even if this event is applied again.
		b.Queue(`UPDATE campaigns SET suppressed = $2 WHERE campaign_id = $1`, e.CampaignID, c.Recipients.Suppressed)
		b.Queue(`UPDATE campaigns SET processed_at = $2, valid = $3, invalid = $4, duplicates = $5, encoding = $6,
				segments_per_message = $7, segments_total = $8, ucs2_chars = $9, by_provider = $10,
				msg_total = CASE WHEN status = $11 THEN msg_total ELSE $3 END
			WHERE campaign_id = $1`,
			e.CampaignID, at, c.Recipients.Valid, c.Recipients.Invalid, c.Recipients.Duplicates, c.Encoding,
			c.SegmentsPerMessage, c.TotalSegments, ucs2, c.ByProvider, StatusFailed)
		queueRecipients(b, e, c)
	case events.FundsDebited:
		f, err := projections.PayloadOf[events.FundsDebitedV1](e)
		if err != nil {
			return err
		}
		b.Queue(`UPDATE campaigns SET cost_debited = $2 WHERE campaign_id = $1`, e.CampaignID, f.Amount)
	case events.FundsRefunded:
		if e.CampaignID == uuid.Nil {
			return nil
		}
		f, err := projections.PayloadOf[events.FundsRefundedV1](e)
		if err != nil {
			return err
		}
		b.Queue(`UPDATE campaigns SET cost_refunded = $2 WHERE campaign_id = $1`, e.CampaignID, f.Amount)
	case events.MessagesEnqueued:
		to, from := move(e.Type)
		b.Queue(`UPDATE campaigns SET status = $2, sending_at = $3 WHERE campaign_id = $1 AND status = ANY($4)`,
			e.CampaignID, to, at, from)
		// A campaign paused before its messages were queued stays paused.
		b.Queue(`UPDATE campaigns SET sending_at = $2 WHERE campaign_id = $1 AND sending_at IS NULL`, e.CampaignID, at)
	case events.NumberSuppressed:
		n, err := projections.PayloadOf[events.NumberSuppressedV1](e)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO suppressions (org_id, e164, source, keyword, created_at) VALUES ($1, $2, $3, NULLIF($4, ''), $5)
			ON CONFLICT (org_id, e164) DO UPDATE SET source = EXCLUDED.source, keyword = EXCLUDED.keyword, created_at = EXCLUDED.created_at`,
			e.OrgID, n.E164, n.Source, n.Keyword, at)
	case events.NumberUnsuppressed:
		n, err := projections.PayloadOf[events.NumberUnsuppressedV1](e)
		if err != nil {
			return err
		}
		b.Queue(`DELETE FROM suppressions WHERE org_id = $1 AND e164 = $2`, e.OrgID, n.E164)
	case events.CampaignScheduled:
		c, err := projections.PayloadOf[events.CampaignScheduledV1](e)
		if err != nil {
			return err
		}
		to, from := move(e.Type)
		b.Queue(`UPDATE campaigns SET status = $2, scheduled_at = $3, send_at = $4 WHERE campaign_id = $1 AND status = ANY($5)`,
			e.CampaignID, to, at, c.SendAt, from)
	case events.CampaignReleased:
		to, from := move(e.Type)
		b.Queue(`UPDATE campaigns SET status = $2 WHERE campaign_id = $1 AND status = ANY($3)`,
			e.CampaignID, to, from)
	case events.CampaignPaused:
		to, from := move(e.Type)
		b.Queue(`UPDATE campaigns SET status = $2, paused_at = $3 WHERE campaign_id = $1 AND status = ANY($4)`,
			e.CampaignID, to, at, from)
	case events.CampaignResumed:
		to, from := move(e.Type)
		b.Queue(`UPDATE campaigns SET status = $2, resumed_at = $3 WHERE campaign_id = $1 AND status = ANY($4)`,
			e.CampaignID, to, at, from)
	case events.CampaignCancelled:
		// A cancelled campaign cancelled again keeps its first time.
		to, from := move(e.Type)
		b.Queue(`UPDATE campaigns SET status = $2, cancelled_at = COALESCE(cancelled_at, $3)
			WHERE campaign_id = $1 AND status = ANY($4)`,
			e.CampaignID, to, at, from)
	case events.CampaignCompleted:
		// Noted here, shown by completeReady once the outcomes are in.
		b.Queue(`UPDATE campaigns SET completion_event_id = $2, completion_at = $3
			WHERE campaign_id = $1 AND completion_event_id IS NULL`,
			e.CampaignID, e.ID, at)
	case events.CampaignFailed:
		f, err := projections.PayloadOf[events.CampaignFailedV1](e)
		if err != nil {
			return err
		}
		to, from := move(e.Type)
		b.Queue(`UPDATE campaigns SET status = $2, failed_at = $3, failure_code = $4, failure_message = $5, msg_total = 0
			WHERE campaign_id = $1 AND status = ANY($6)`,
			e.CampaignID, to, at, f.Code, f.Message, from)
		// The campaign failed before any delivery was queued: its planned
		// messages will never be sent.
		b.Queue(`UPDATE messages SET status = $2, error_code = $3, error = $4, done_at = $5
			WHERE campaign_id = $1 AND status = $6`,
			e.CampaignID, MessageCancelled, f.Code, f.Message, at, MessageQueued)
	}
	return nil
}

// queueRecipients writes one row per submitted recipient. A message's
// outcome may have created its row already (the outcome topic is projected
// independently); the upsert then fills in what only this event knows.
func queueRecipients(b *pgx.Batch, e events.Envelope, c events.CampaignProcessedV1) {
	n := len(c.Items)
	firstOf := make(map[string]int, n)
	for _, it := range c.Items {
		if it.Reason == "" && it.E164 != "" {
			if _, ok := firstOf[it.E164]; !ok {
				firstOf[it.E164] = it.Index
			}
		}
	}
	mids, idx, inputs, e164s, provs := make([]string, n), make([]int32, n), make([]string, n), make([]string, n), make([]string, n)
	costs, sts, codes, errs := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	for i, it := range c.Items {
		idx[i], inputs[i], e164s[i], provs[i], costs[i] = int32(it.Index), it.Input, it.E164, it.Provider, it.Cost
		switch {
		case it.Reason == phone.ReasonDuplicate:
			sts[i], codes[i] = MessageDuplicate, it.Reason
			errs[i] = "Duplicate of an earlier recipient."
			if first, ok := firstOf[it.E164]; ok {
				errs[i] = "Duplicate of recipient " + strconv.Itoa(first) + "."
			}
		case it.Reason == optout.ReasonSuppressed:
			sts[i], codes[i] = MessageSuppressed, it.Reason
			errs[i] = "The number is on the organisation's suppression list (it opted out)."
		case it.Reason != "":
			sts[i], codes[i] = MessageInvalid, it.Reason
			errs[i] = reasonText(it.Reason)
		default:
			sts[i] = MessageQueued
			if it.MessageID != uuid.Nil {
				mids[i] = it.MessageID.String()
			}
		}
	}
	b.Queue(`INSERT INTO messages (message_id, campaign_id, org_id, idx, input, e164, provider, segments, cost, currency,
			status, error_code, error, queued_at)
		SELECT NULLIF(u.mid, '')::uuid, $1, $2, u.idx, u.input, NULLIF(u.e164, ''), NULLIF(u.provider, ''),
			CASE WHEN u.st = $6 THEN $3::int END, u.cost, $4, u.st, NULLIF(u.code, ''), NULLIF(u.err, ''), $5
		FROM unnest($7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[])
			AS u(mid, idx, input, e164, provider, cost, st, code, err)
		ON CONFLICT (campaign_id, idx) DO UPDATE SET input = EXCLUDED.input, e164 = EXCLUDED.e164,
			segments = EXCLUDED.segments, queued_at = EXCLUDED.queued_at, cost = EXCLUDED.cost, currency = EXCLUDED.currency`,
		e.CampaignID, e.OrgID, c.SegmentsPerMessage, c.Currency, e.OccurredAt, MessageQueued,
		mids, idx, inputs, e164s, provs, costs, sts, codes, errs)
}

// reasonText explains a rejection code (domain/phone) to the customer;
// the code itself is in error.code.
func reasonText(code string) string {
	if t, ok := reasonTexts[code]; ok {
		return t
	}
	return "The number was not accepted."
}

var reasonTexts = map[string]string{
	"INVALID_NUMBER_FORMAT":  "The value could not be read as a phone number.",
	"INVALID_NUMBER":         "The number is not in service in any numbering plan.",
	"INVALID_COUNTRY_CODE":   "The number's country calling code does not exist.",
	"NUMBER_TOO_SHORT":       "The number is too short for its country.",
	"NUMBER_TOO_LONG":        "The number is too long for its country.",
	"NUMBER_NOT_SMS_CAPABLE": "The number cannot receive SMS (freephone, premium rate, shared cost or voicemail).",
}

// queueOutcomes upserts message outcomes in one statement. A message that
// already has an outcome keeps it: a duplicate outcome changes nothing. The
// batch is deduplicated first because one upsert cannot touch a row twice,
// and sorted so that concurrent writers lock rows in the same order.
func queueOutcomes(b *pgx.Batch, outs []outcome) {
	seen := make(map[uuid.UUID]bool, len(outs))
	uniq := outs[:0]
	for _, o := range outs {
		if !seen[o.id] {
			seen[o.id] = true
			uniq = append(uniq, o)
		}
	}
	outs = uniq
	slices.SortFunc(outs, func(a, b outcome) int {
		return cmp.Or(bytes.Compare(a.campaign[:], b.campaign[:]), cmp.Compare(a.idx, b.idx))
	})
	n := len(outs)
	ids, camps, orgs := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
	idx, attempts := make([]int32, n), make([]int32, n)
	provs, sts, curs, refs, codes, errs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	costs, ats := make([]int64, n), make([]time.Time, n)
	for i, o := range outs {
		ids[i], camps[i], orgs[i], idx[i], attempts[i] = o.id, o.campaign, o.org, int32(o.idx), int32(o.attempts)
		provs[i], sts[i], curs[i], refs[i], codes[i], errs[i] = o.provider, o.status, o.currency, o.ref, o.code, o.errText
		costs[i], ats[i] = o.cost, o.at
	}
	b.Queue(`INSERT INTO messages (message_id, campaign_id, org_id, idx, provider, cost, currency, status,
			provider_ref, error_code, error, attempts, done_at)
		SELECT id, camp, org, idx, prov, cost, cur, st, NULLIF(ref, ''), NULLIF(code, ''), NULLIF(err, ''), att, at
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::bigint[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::text[], $12::int[], $13::timestamptz[])
			AS u(id, camp, org, idx, prov, cost, cur, st, ref, code, err, att, at)
		ON CONFLICT (campaign_id, idx) DO UPDATE SET
			status = CASE WHEN messages.status = $14 THEN EXCLUDED.status ELSE messages.status END,
			provider_ref = EXCLUDED.provider_ref, error_code = EXCLUDED.error_code, error = EXCLUDED.error,
			attempts = EXCLUDED.attempts, done_at = EXCLUDED.done_at, cost = EXCLUDED.cost, currency = EXCLUDED.currency
		WHERE messages.status = $14 OR (messages.status = ANY($15) AND messages.done_at IS NULL)`,
		ids, camps, orgs, idx, provs, costs, curs, sts, refs, codes, errs, attempts, ats, MessageQueued, receiptStatuses)
}

// receipt is one message's delivery decision.
type receipt struct {
	id, campaign, org uuid.UUID
	idx               int
	provider, status  string
	refs              []string
	stat, err         string
	at                time.Time
}

// queueReceipts moves messages to their receipt status. A receipt can be
// projected before the message's outcome (the receipt stage may commit
// before the dispatcher's batch does) or even before its campaign's
// CampaignProcessed: the row is then created here, with the status, and
// the later writes fill in the rest without moving the status back (see
// queueOutcomes). Each message gets one receipt event, so a second one
// (a replay) changes nothing.
func queueReceipts(b *pgx.Batch, rs []receipt) {
	seen := make(map[uuid.UUID]bool, len(rs))
	uniq := rs[:0]
	for _, r := range rs {
		if !seen[r.id] {
			seen[r.id] = true
			uniq = append(uniq, r)
		}
	}
	rs = uniq
	slices.SortFunc(rs, func(a, b receipt) int {
		return cmp.Or(bytes.Compare(a.campaign[:], b.campaign[:]), cmp.Compare(a.idx, b.idx))
	})
	n := len(rs)
	ids, camps, orgs := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
	idx := make([]int32, n)
	provs, sts, refs, stats, errs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	for i, r := range rs {
		ids[i], camps[i], orgs[i], idx[i] = r.id, r.campaign, r.org, int32(r.idx)
		provs[i], sts[i], refs[i], stats[i], errs[i], ats[i] = r.provider, r.status, strings.Join(r.refs, ","), r.stat, r.err, r.at
	}
	b.Queue(`INSERT INTO messages (message_id, campaign_id, org_id, idx, provider, cost, currency, status,
			provider_ref, receipt_at, receipt_stat, receipt_err)
		SELECT id, camp, org, idx, prov, 0, '', st, NULLIF(ref, ''), at, stat, err
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::text[],
			$8::timestamptz[], $9::text[], $10::text[])
			AS u(id, camp, org, idx, prov, st, ref, at, stat, err)
		ON CONFLICT (campaign_id, idx) DO UPDATE SET status = EXCLUDED.status, receipt_at = EXCLUDED.receipt_at,
			receipt_stat = EXCLUDED.receipt_stat, receipt_err = EXCLUDED.receipt_err,
			provider_ref = COALESCE(messages.provider_ref, EXCLUDED.provider_ref)
		WHERE messages.receipt_at IS NULL`,
		ids, camps, orgs, idx, provs, sts, refs, ats, stats, errs)
}

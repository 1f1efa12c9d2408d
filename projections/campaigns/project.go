// Package campaigns is the campaign read model: the rows behind Retrieve
// Campaign and the message list, and the queries that read them.
package campaigns

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/events"
)

// Status values of a campaign as customers see them.
const (
	StatusProcessing = "PROCESSING"
	StatusSending    = "SENDING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
)

// Change is a campaign status transition applied by a batch.
type Change struct {
	EventID    uuid.UUID // the event that caused it: a stable id for consumers
	CampaignID uuid.UUID
	OrgID      uuid.UUID
	Status     string
	At         time.Time
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
func (Projection) Topics() []string {
	return []string{kafkalog.OrgEvents, kafkalog.MessageEvents}
}

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
func (p Projection) Apply(ctx context.Context, tx pgx.Tx, recs []*kgo.Record) error {
	var outs []outcome
	var changes []Change
	b := &pgx.Batch{}
	for _, r := range recs {
		e, err := kafkalog.Decode(r)
		if err != nil {
			p.Log.Error("projection skips undecodable record", "topic", r.Topic, "offset", r.Offset, "err", err)
			continue
		}
		switch e.Type {
		case events.MessageSent, events.MessageFailed:
			var o events.MessageOutcome
			if err := e.Decode(&o); err != nil {
				return err
			}
			st := "SENT"
			if e.Type == events.MessageFailed {
				st = "FAILED"
			}
			outs = append(outs, outcome{id: o.MessageID, campaign: e.CampaignID, org: e.OrgID, idx: o.Index,
				provider: o.Provider, status: st, cost: o.Cost, currency: o.Currency, ref: o.ProviderRef,
				code: o.ErrorCode, errText: o.Error, attempts: o.Attempts, at: e.OccurredAt})
		default:
			if err := queueOrgEvent(b, e); err != nil {
				return err
			}
			if st, ok := statusOf[e.Type]; ok {
				changes = append(changes, Change{EventID: e.ID, CampaignID: e.CampaignID, OrgID: e.OrgID, Status: st, At: e.OccurredAt})
			}
		}
	}
	if len(outs) > 0 {
		queueOutcomes(b, outs)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	if p.OnChange != nil && len(changes) > 0 {
		return p.OnChange(ctx, tx, changes)
	}
	return nil
}

// statusOf maps the events that move a campaign's status to the status.
var statusOf = map[events.Type]string{
	events.CampaignAccepted:  StatusProcessing,
	events.MessagesEnqueued:  StatusSending,
	events.CampaignCompleted: StatusCompleted,
	events.CampaignFailed:    StatusFailed,
}

func queueOrgEvent(b *pgx.Batch, e events.Envelope) error {
	at := e.OccurredAt
	switch e.Type {
	case events.CampaignAccepted:
		var c events.CampaignAcceptedV1
		if err := e.Decode(&c); err != nil {
			return err
		}
		b.Queue(`INSERT INTO campaigns (campaign_id, org_id, name, status, channel_type, remitter_id, country_alpha2,
				created_at, submitted, currency, cost_estimated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (campaign_id) DO NOTHING`,
			e.CampaignID, e.OrgID, c.Name, StatusProcessing, c.ChannelType, c.RemitterID, c.CountryAlpha2,
			at, len(c.Recipients), c.Currency, c.EstimatedCost)
	case events.CampaignProcessed:
		var c events.CampaignProcessedV1
		if err := e.Decode(&c); err != nil {
			return err
		}
		ucs2 := c.UCS2Chars
		if ucs2 == nil {
			ucs2 = []string{}
		}
		b.Queue(`UPDATE campaigns SET processed_at = $2, valid = $3, invalid = $4, duplicates = $5, encoding = $6,
				segments_per_message = $7, segments_total = $8, ucs2_chars = $9, by_provider = $10, msg_total = $3
			WHERE campaign_id = $1`,
			e.CampaignID, at, c.Recipients.Valid, c.Recipients.Invalid, c.Recipients.Duplicates, c.Encoding,
			c.SegmentsPerMessage, c.TotalSegments, ucs2, c.ByProvider)
		n := c.Recipients.Valid
		ids, idx, inputs, e164s, provs := make([]uuid.UUID, 0, n), make([]int32, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		costs := make([]int64, 0, n)
		for _, it := range c.Items {
			if it.MessageID == uuid.Nil {
				continue
			}
			ids, idx, inputs, e164s, provs, costs = append(ids, it.MessageID), append(idx, int32(it.Index)),
				append(inputs, it.Input), append(e164s, it.E164), append(provs, it.Provider), append(costs, it.Cost)
		}
		b.Queue(`INSERT INTO messages (message_id, campaign_id, org_id, idx, input, e164, provider, segments, cost, currency, status, queued_at)
			SELECT u.id, $1, $2, u.idx, u.input, u.e164, u.provider, $3, u.cost, $4, 'QUEUED', $5
			FROM unnest($6::uuid[], $7::int[], $8::text[], $9::text[], $10::text[], $11::bigint[]) AS u(id, idx, input, e164, provider, cost)
			ON CONFLICT (message_id) DO UPDATE SET input = EXCLUDED.input, e164 = EXCLUDED.e164,
				segments = EXCLUDED.segments, queued_at = EXCLUDED.queued_at`,
			e.CampaignID, e.OrgID, c.SegmentsPerMessage, c.Currency, at, ids, idx, inputs, e164s, provs, costs)
	case events.FundsDebited:
		var f events.FundsDebitedV1
		if err := e.Decode(&f); err != nil {
			return err
		}
		b.Queue(`UPDATE campaigns SET cost_debited = $2 WHERE campaign_id = $1`, e.CampaignID, f.Amount)
	case events.FundsRefunded:
		if e.CampaignID == uuid.Nil {
			return nil
		}
		var f events.FundsRefundedV1
		if err := e.Decode(&f); err != nil {
			return err
		}
		b.Queue(`UPDATE campaigns SET cost_refunded = $2 WHERE campaign_id = $1`, e.CampaignID, f.Amount)
	case events.MessagesEnqueued:
		b.Queue(`UPDATE campaigns SET status = $2, sending_at = $3 WHERE campaign_id = $1 AND status = $4`,
			e.CampaignID, StatusSending, at, StatusProcessing)
	case events.CampaignCompleted:
		b.Queue(`UPDATE campaigns SET status = $2, completed_at = $3 WHERE campaign_id = $1`,
			e.CampaignID, StatusCompleted, at)
	case events.CampaignFailed:
		var f events.CampaignFailedV1
		if err := e.Decode(&f); err != nil {
			return err
		}
		b.Queue(`UPDATE campaigns SET status = $2, failed_at = $3, failure_code = $4, failure_message = $5 WHERE campaign_id = $1`,
			e.CampaignID, StatusFailed, at, f.Code, f.Message)
	}
	return nil
}

// queueOutcomes upserts message outcomes in one statement. A message that
// already has an outcome keeps it: a duplicate outcome changes nothing. The
// batch is deduplicated first because one upsert cannot touch a row twice.
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
		ON CONFLICT (message_id) DO UPDATE SET status = EXCLUDED.status, provider_ref = EXCLUDED.provider_ref,
			error_code = EXCLUDED.error_code, error = EXCLUDED.error, attempts = EXCLUDED.attempts, done_at = EXCLUDED.done_at
		WHERE messages.status = 'QUEUED'`,
		ids, camps, orgs, idx, provs, costs, curs, sts, refs, codes, errs, attempts, ats)
}

// Package webhooks is the webhook side of the read model: the outbox the
// campaign projector fills in its own transaction (events, deliveries and
// the jobs the sender consumes), and the queries over deliveries and their
// attempts. Endpoints are managed by commands/webhooks; the delivery queue
// and the sender are adapters/webhooks.
package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/domain/webhook"
	"ziett.co/campaigns/projections/campaigns"
)

// Event types a customer can subscribe to, one per campaign status.
const (
	CampaignProcessing = "campaign.processing"
	CampaignSending    = "campaign.sending"
	CampaignCompleted  = "campaign.completed"
	CampaignFailed     = "campaign.failed"
	CampaignScheduled  = "campaign.scheduled"
	CampaignPaused     = "campaign.paused"
	CampaignResumed    = campaigns.EventResumed
	CampaignCancelled  = "campaign.cancelled"
)

// EventTypes lists the campaign event types, in the order a campaign meets
// them: what an endpoint registered without event_types receives.
var EventTypes = []string{CampaignScheduled, CampaignProcessing, CampaignSending, CampaignPaused, CampaignResumed,
	CampaignCompleted, CampaignFailed, CampaignCancelled}

// Message-level event types of single messages (Send Message), sent only
// to endpoints that subscribe to them by name.
const (
	MessageSent        = "message.sent"
	MessageDelivered   = "message.delivered"
	MessageUndelivered = "message.undelivered"
	MessageFailed      = "message.failed"
)

// MessageEventTypes lists the message-level event types.
var MessageEventTypes = []string{MessageSent, MessageDelivered, MessageUndelivered, MessageFailed}

// AllEventTypes is every event type an endpoint may subscribe to.
var AllEventTypes = append(append([]string{}, EventTypes...), MessageEventTypes...)

// messageType is the message-level event of a single message's change,
// given what Retrieve Message shows; "" for changes customers are not
// told of (PROCESSING, SENDING).
func messageType(change string, v campaigns.SingleView) string {
	switch change {
	case campaigns.StatusCompleted:
		// The outcome is in: the provider took the message, or it failed.
		if v.Status == campaigns.SingleFailed {
			return MessageFailed
		}
		return MessageSent
	case campaigns.StatusFailed:
		return MessageFailed
	case campaigns.MessageDelivered:
		return MessageDelivered
	case campaigns.MessageUndelivered, campaigns.MessageExpired, campaigns.MessageRejected:
		return MessageUndelivered
	}
	return ""
}

// MessageEvent is the body of a message-level webhook: Event's layout with
// the message as Retrieve Message shows it.
type MessageEvent struct {
	ID        uuid.UUID            `json:"id"`
	Type      string               `json:"type"`
	Timestamp time.Time            `json:"timestamp"`
	Sequence  int                  `json:"sequence"`
	Data      campaigns.SingleView `json:"data"`
}

var typeOfStatus = map[string]string{
	campaigns.StatusScheduled:  CampaignScheduled,
	campaigns.StatusProcessing: CampaignProcessing,
	campaigns.StatusSending:    CampaignSending,
	campaigns.StatusPaused:     CampaignPaused,
	campaigns.StatusCompleted:  CampaignCompleted,
	campaigns.StatusFailed:     CampaignFailed,
	campaigns.StatusCancelled:  CampaignCancelled,
}

// Event is the body of a webhook, laid out as the Standard Webhooks spec
// suggests (type, timestamp, data) plus an id and a sequence.
type Event struct {
	// ID is the same for every endpoint; the webhook-id header, unique per
	// endpoint, is the delivery's id.
	ID   uuid.UUID `json:"id"`
	Type string    `json:"type"`
	// Timestamp is when the status changed.
	Timestamp time.Time `json:"timestamp"`
	// Sequence increases with each event of a campaign, so a receiver can
	// order events that arrive out of order or again.
	Sequence int `json:"sequence"`
	// Data is the campaign as Retrieve Campaign showed it when the event
	// was recorded. Changes recorded in the same projector batch are
	// already in it (a small campaign's processing event may show it
	// COMPLETED); Type and Sequence say which change this event is.
	Data campaigns.View `json:"data"`
}

// EventID derives an event's id from the log event that changed the
// status, so replaying that event cannot mint a second webhook.
func EventID(source uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(source, []byte("webhook-event"))
}

// Outbox records webhooks for campaign status changes. Its OnChange is the
// campaign projection's hook: it runs in the projector's transaction, so
// the events, their deliveries and the queued jobs commit exactly when the
// read model does, and a batch applied again after a failure (rolled back
// together) records them once.
type Outbox struct {
	// Queue takes the jobs of the deliveries recorded (required;
	// adapters/webhooks.Queue).
	Queue Queue
	Log   *slog.Logger
}

// Queue is the delivery queue the sender consumes.
type Queue interface {
	// Enqueue queues jobs due now, in tx: they are taken once tx commits
	// and never if it rolls back.
	Enqueue(ctx context.Context, tx pgx.Tx, jobs ...webhook.Job) error
}

// errNoQueue is a misassembled outbox: it would record deliveries that are
// never sent.
var errNoQueue = errors.New("webhook outbox: no delivery queue")

type subscriber struct {
	id     uuid.UUID
	org    uuid.UUID
	events []string
}

// OnChange implements campaigns.Projection.OnChange.
func (o Outbox) OnChange(ctx context.Context, tx pgx.Tx, changes []campaigns.Change) error {
	if o.Queue == nil {
		return errNoQueue
	}
	orgs := make([]uuid.UUID, 0, len(changes))
	for _, c := range changes {
		if !slices.Contains(orgs, c.OrgID) {
			orgs = append(orgs, c.OrgID)
		}
	}
	// The common case, an organisation without endpoints, costs this one
	// query per batch. The key-share lock holds off a concurrent delete of
	// an endpoint until its deliveries are written (and then cascades to
	// them), instead of failing the batch on the foreign key.
	rows, err := tx.Query(ctx, `SELECT endpoint_id, org_id, event_types FROM public.webhook_endpoints
		WHERE org_id = ANY($1) AND status = 'ENABLED' ORDER BY endpoint_id FOR KEY SHARE`, orgs)
	if err != nil {
		return err
	}
	byOrg := map[uuid.UUID][]subscriber{}
	var s subscriber
	if _, err := pgx.ForEachRow(rows, []any{&s.id, &s.org, &s.events}, func() error {
		byOrg[s.org] = append(byOrg[s.org], subscriber{s.id, s.org, slices.Clone(s.events)})
		return nil
	}); err != nil {
		return err
	}
	if len(byOrg) == 0 {
		return nil
	}

	var ids []uuid.UUID
	for _, c := range changes {
		if byOrg[c.OrgID] != nil && !slices.Contains(ids, c.CampaignID) {
			ids = append(ids, c.CampaignID)
		}
	}
	seq, seen, err := sequences(ctx, tx, ids)
	if err != nil {
		return err
	}

	views, err := campaigns.Reader{DB: tx}.Views(ctx, ids)
	if err != nil {
		return err
	}
	var jobs []webhook.Job
	b := &pgx.Batch{}
	for _, c := range changes {
		subs := byOrg[c.OrgID]
		if subs == nil || seen[c.EventID] {
			continue
		}
		v, ok := views[c.CampaignID]
		if !ok {
			// Cannot happen while CampaignAccepted precedes every other
			// event of a campaign in its partition; never block the read
			// model on it.
			o.log().Error("webhook outbox: changed campaign not in the read model", "campaign_id", c.CampaignID)
			continue
		}
		var typ string
		var payload []byte
		var evID uuid.UUID
		if v.Kind == campaigns.KindMessage && c.Message != nil && c.Status == campaigns.MessageFailed {
			// A single message's failure is told by its campaign's status.
			continue
		}
		if v.Kind != campaigns.KindMessage && c.Message != nil {
			// A campaign message's event goes only to the endpoints that
			// ask for message events.
			typ = campaignMessageType(c.Status)
			if !slices.ContainsFunc(subs, func(s subscriber) bool { return slices.Contains(s.events, typ) }) {
				continue
			}
			ms, _, err := campaigns.Reader{DB: tx}.Messages(ctx, c.OrgID, c.CampaignID,
				campaigns.MessageQuery{AfterIndex: *c.Message - 1, Limit: 1})
			if err != nil {
				return err
			}
			if len(ms) != 1 {
				continue
			}
			seq[c.CampaignID]++
			evID = EventID(c.EventID)
			body := CampaignMessageEvent{ID: evID, Type: typ, Timestamp: c.At.UTC(), Sequence: seq[c.CampaignID]}
			body.Data.CampaignID, body.Data.Message = c.CampaignID, ms[0]
			if payload, err = json.Marshal(body); err != nil {
				return err
			}
		} else if v.Kind == campaigns.KindMessage {
			// A single message is a campaign of one in the read model;
			// its subscribers get message-level events instead.
			mv, err := campaigns.Reader{DB: tx}.Single(ctx, c.OrgID, c.CampaignID)
			if err != nil {
				return err
			}
			if typ = messageType(c.Status, mv); typ == "" {
				continue
			}
			seq[c.CampaignID]++
			evID = EventID(c.EventID)
			if payload, err = json.Marshal(MessageEvent{ID: evID, Type: typ, Timestamp: c.At.UTC(), Sequence: seq[c.CampaignID], Data: mv}); err != nil {
				return err
			}
		} else {
			if typ, ok = typeOfStatus[c.Status]; c.Event != "" {
				typ, ok = c.Event, true
			}
			if !ok {
				continue
			}
			seq[c.CampaignID]++
			evID = EventID(c.EventID)
			var err error
			if payload, err = json.Marshal(Event{ID: evID, Type: typ, Timestamp: c.At.UTC(), Sequence: seq[c.CampaignID], Data: v}); err != nil {
				return err
			}
		}
		ev := struct {
			ID       uuid.UUID
			Sequence int
		}{evID, seq[c.CampaignID]}
		b.Queue(`INSERT INTO public.webhook_events (event_id, source_event_id, org_id, campaign_id, type, sequence, payload, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			ev.ID, c.EventID, c.OrgID, c.CampaignID, typ, ev.Sequence, payload, c.At)
		for _, sub := range subs {
			if !slices.Contains(sub.events, typ) {
				continue
			}
			d := webhook.DeliveryID(ev.ID, sub.id)
			b.Queue(`INSERT INTO public.webhook_deliveries (delivery_id, endpoint_id, event_id, status, next_attempt_at)
				VALUES ($1, $2, $3, 'PENDING', now())`, d, sub.id, ev.ID)
			jobs = append(jobs, webhook.Job{DeliveryID: d, Attempt: 1})
		}
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	return o.Queue.Enqueue(ctx, tx, jobs...)
}

// campaignMessageType is the event of a campaign message's change.
func campaignMessageType(status string) string {
	switch status {
	case campaigns.MessageDelivered:
		return MessageDelivered
	case campaigns.MessageFailed:
		return MessageFailed
	}
	return MessageUndelivered
}

// CampaignMessageEvent is the body of a message event of a campaign's
// message: the message as the campaign's message list shows it.
type CampaignMessageEvent struct {
	ID        uuid.UUID `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Sequence  int       `json:"sequence"`
	Data      struct {
		CampaignID uuid.UUID `json:"campaign_id"`
		campaigns.Message
	} `json:"data"`
}

// sequences returns the last sequence number of each campaign and the log
// events already recorded.
func sequences(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]int, map[uuid.UUID]bool, error) {
	seq, seen := map[uuid.UUID]int{}, map[uuid.UUID]bool{}
	if len(ids) == 0 {
		return seq, seen, nil
	}
	rows, err := tx.Query(ctx, `SELECT campaign_id, source_event_id, sequence FROM public.webhook_events WHERE campaign_id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, err
	}
	var c, src uuid.UUID
	var n int
	_, err = pgx.ForEachRow(rows, []any{&c, &src, &n}, func() error {
		seq[c] = max(seq[c], n)
		seen[src] = true
		return nil
	})
	return seq, seen, err
}

func (o Outbox) log() *slog.Logger {
	if o.Log == nil {
		return slog.Default()
	}
	return o.Log
}

package smsprovider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/commands/dispatch"
	"ziett.co/campaigns/domain/events"
)

// Link is a dispatch.Provider over an SMPP client: it submits messages,
// keeps the SMSC's id of every part in PostgreSQL (provider_refs) before
// Send returns, answers Lookup from that table, and handles what the SMSC
// delivers (OnDeliver, to be set as the client's ClientConfig.OnDeliver):
// receipts are matched to their message and appended to the receipts topic
// before they are acknowledged; mobile-originated messages become an
// InboundMessageReceived of the organisation that owns the sender.
//
// The duplicate window: the SMSC may receive a message twice only when it
// accepted a part but its id never reached provider_refs — the
// submit_sm_resp was lost (a dropped connection or a timeout), the process
// died between the response and the commit of the row (one group commit,
// a few milliseconds), or the write failed. The dispatcher's lookup then
// finds nothing and sends the message again with the same vendor id (TLV
// 0x1501), by which an SMSC can recognise it. docs/delivery-receipts.md.
type Link struct {
	Name   string
	Client Submitter
	DB     *pgxpool.Pool
	// Producer appends receipts and inbound messages (the stack's
	// idempotent producer).
	Producer Producer
	Log      *slog.Logger
	// ReceiptWait bounds how long a receipt whose id is not known yet
	// waits for it: an SMSC may send a receipt before we have read its
	// submit_sm_resp, or while the row is being committed; default 3s.
	// After that it is counted as unmatched and acknowledged.
	ReceiptWait time.Duration
	// Unmatched counts receipts that matched no message.
	Unmatched func()
	// Senders finds the organisation owning a sender, for inbound
	// messages; default: approved sender ids in PostgreSQL.
	Senders func(ctx context.Context, sender string) (org, remitter uuid.UUID, ok bool, err error)

	startOnce sync.Once
	writes    chan *refWrite

	mu      sync.Mutex
	cache   map[string]refEntry
	flushed chan struct{} // closed and replaced after every write of refs
	swept   time.Time
}

// Submitter is the part of *smpp.Client the link uses.
type Submitter interface {
	Submit(ctx context.Context, s smpp.Submission) (smpp.SubmitResult, error)
}

// Producer appends records and waits for them.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

type refEntry struct {
	message, campaign, org uuid.UUID
	idx, part, parts       int
	at                     time.Time
}

type refWrite struct {
	m    dispatch.Message
	refs []string
	done chan error
}

// DefaultReceiptWait is Link.ReceiptWait's default.
const DefaultReceiptWait = 3 * time.Second

// refWriters is how many group commits of provider_refs run at once; each
// takes every row queued when it starts (up to maxRefBatch).
const (
	refWriters  = 4
	maxRefBatch = 2000
)

// cacheHorizon is how long a ref stays in memory for the receipts of this
// process's binds; later receipts are matched through PostgreSQL.
const cacheHorizon = 10 * time.Minute

func (l *Link) start() {
	l.startOnce.Do(func() {
		l.cache = map[string]refEntry{}
		l.flushed = make(chan struct{})
		l.writes = make(chan *refWrite, maxRefBatch)
		if l.ReceiptWait == 0 {
			l.ReceiptWait = DefaultReceiptWait
		}
		if l.Log == nil {
			l.Log = slog.Default()
		}
		for range refWriters {
			go l.writeRefs()
		}
	})
}

// Send implements dispatch.Provider.
func (l *Link) Send(ctx context.Context, m dispatch.Message) (dispatch.Receipt, error) {
	l.start()
	res, err := l.Client.Submit(ctx, smpp.Submission{Ref: m.ID, Source: m.Sender, Dest: m.To, Text: m.Content})
	if err != nil {
		return dispatch.Receipt{}, refusal(err)
	}
	if len(res.MessageIDs) == 0 {
		return dispatch.Receipt{}, errors.New("smpp: submission accepted without message ids")
	}
	w := &refWrite{m: m, refs: res.MessageIDs, done: make(chan error, 1)}
	select {
	case l.writes <- w:
	case <-ctx.Done():
		return dispatch.Receipt{}, ctx.Err()
	}
	select {
	case err := <-w.done:
		if err != nil {
			// Unknown to the dispatcher: it looks the message up, finds no
			// row and sends again (the duplicate window).
			return dispatch.Receipt{}, fmt.Errorf("record provider refs: %w", err)
		}
	case <-ctx.Done():
		return dispatch.Receipt{}, ctx.Err()
	}
	return dispatch.Receipt{ProviderRef: strings.Join(res.MessageIDs, ",")}, nil
}

// refusal maps the client's errors to the dispatcher's: a refusal is a
// *dispatch.Error (permanent unless the status is temporary); a submission
// whose outcome is unknown stays a plain error, which the dispatcher
// reconciles by Lookup before sending again.
func refusal(err error) error {
	var se *smpp.StatusError
	switch {
	case errors.As(err, &se):
		return &dispatch.Error{Code: se.Name, Message: err.Error(), Permanent: !se.Temporary}
	case errors.Is(err, smpp.ErrBadSubmission):
		return &dispatch.Error{Code: "INVALID_SUBMISSION", Message: err.Error(), Permanent: true}
	case errors.Is(err, smpp.ErrClosed):
		return &dispatch.Error{Code: "LINK_CLOSED", Message: err.Error()}
	}
	return err
}

// writeRefs is one group-commit writer: it takes the rows queued, writes
// them in one statement and answers every Send waiting on them.
func (l *Link) writeRefs() {
	for first := range l.writes {
		batch := []*refWrite{first}
	drain:
		for len(batch) < maxRefBatch {
			select {
			case w := <-l.writes:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		err := l.insertRefs(batch)
		if err == nil {
			now := time.Now()
			l.mu.Lock()
			for _, w := range batch {
				for i, ref := range w.refs {
					l.cache[ref] = refEntry{message: w.m.ID, campaign: w.m.CampaignID, org: w.m.OrgID,
						idx: w.m.Index, part: i, parts: len(w.refs), at: now}
				}
			}
			close(l.flushed)
			l.flushed = make(chan struct{})
			l.sweep(now)
			l.mu.Unlock()
		}
		for _, w := range batch {
			w.done <- err
		}
	}
}

// sweep drops refs older than the cache horizon, at most once a minute.
// Called with mu held.
func (l *Link) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for ref, e := range l.cache {
		if now.Sub(e.at) > cacheHorizon {
			delete(l.cache, ref)
		}
	}
}

func (l *Link) insertRefs(batch []*refWrite) error {
	var refs []string
	var msgs, camps, orgs []uuid.UUID
	var idx, parts, nth []int32
	for _, w := range batch {
		for i, ref := range w.refs {
			refs = append(refs, ref)
			msgs, camps, orgs = append(msgs, w.m.ID), append(camps, w.m.CampaignID), append(orgs, w.m.OrgID)
			idx, nth, parts = append(idx, int32(w.m.Index)), append(nth, int32(i)), append(parts, int32(len(w.refs)))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// An SMSC that restarts may hand out an id again: the newest message
	// owns it.
	_, err := l.DB.Exec(ctx, `INSERT INTO provider_refs (provider, ref, message_id, campaign_id, org_id, idx, part, parts)
		SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int[], $7::int[], $8::int[])
		ON CONFLICT (provider, ref) DO UPDATE SET message_id = EXCLUDED.message_id, campaign_id = EXCLUDED.campaign_id,
			org_id = EXCLUDED.org_id, idx = EXCLUDED.idx, part = EXCLUDED.part, parts = EXCLUDED.parts, created_at = now()`,
		l.Name, refs, msgs, camps, orgs, idx, nth, parts)
	return err
}

// Lookup implements dispatch.Provider: a message is Accepted when every
// one of its parts' ids is recorded, Unknown otherwise (the SMSC never
// acknowledged it, as far as we can prove).
func (l *Link) Lookup(ctx context.Context, id uuid.UUID) (dispatch.Status, error) {
	rows, err := l.DB.Query(ctx, `SELECT ref, parts FROM provider_refs WHERE message_id = $1 AND provider = $2 ORDER BY part`, id, l.Name)
	if err != nil {
		return dispatch.Status{}, err
	}
	var refs []string
	parts := 0
	var ref string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&ref, &n}, func() error {
		refs, parts = append(refs, ref), n
		return nil
	}); err != nil {
		return dispatch.Status{}, err
	}
	if len(refs) == 0 || len(refs) != parts {
		return dispatch.Status{State: dispatch.Unknown}, nil
	}
	return dispatch.Status{State: dispatch.Accepted, ProviderRef: strings.Join(refs, ",")}, nil
}

// OnDeliver handles a deliver_sm; the client acknowledges it only when
// this returns nil, so everything it records is durable first.
func (l *Link) OnDeliver(ctx context.Context, d smpp.Delivery) error {
	l.start()
	switch {
	case d.Receipt != nil:
		return l.receipt(ctx, d.Receipt)
	case d.MO != nil:
		return l.inbound(ctx, d.MO)
	}
	return nil
}

func (l *Link) receipt(ctx context.Context, r *smpp.Receipt) error {
	e, ok, err := l.match(ctx, r.MessageID)
	if err != nil {
		return err
	}
	if !ok {
		if l.Unmatched != nil {
			l.Unmatched()
		}
		l.Log.Warn("receipt for an unknown message id; acknowledged and dropped", "provider", l.Name,
			"smsc_message_id", r.MessageID, "stat", r.Stat)
		return nil
	}
	rec, err := kafkalog.EncodeMessage(events.OfReceipt(events.Receipt{Provider: l.Name, Ref: r.MessageID, MessageID: e.message, CampaignID: e.campaign,
		OrgID: e.org, Index: e.idx, Part: e.part, Parts: e.parts, Stat: r.Stat, Err: r.Err, Done: r.Done, Raw: r.Raw,
		ReceivedAt: time.Now().UTC()}))
	if err != nil {
		return err
	}
	if err := l.Producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("append receipt: %w", err)
	}
	l.mu.Lock()
	delete(l.cache, r.MessageID)
	l.mu.Unlock()
	return nil
}

// match finds the message a part's id belongs to: in memory for parts this
// process sent recently, else in PostgreSQL; an id not known yet is waited
// for up to ReceiptWait (a receipt can overtake the submit_sm_resp).
func (l *Link) match(ctx context.Context, ref string) (refEntry, bool, error) {
	deadline := time.Now().Add(l.ReceiptWait)
	nextDB := time.Now()
	for {
		l.mu.Lock()
		e, ok := l.cache[ref]
		sig := l.flushed
		l.mu.Unlock()
		if ok {
			return e, true, nil
		}
		now := time.Now()
		if !now.Before(nextDB) {
			e, ok, err := l.lookupRef(ctx, ref)
			if err != nil || ok {
				return e, ok, err
			}
			if now.After(deadline) {
				return refEntry{}, false, nil
			}
			nextDB = now.Add(l.ReceiptWait / 4)
		}
		t := time.NewTimer(min(time.Until(nextDB), time.Until(deadline)) + time.Millisecond)
		select {
		case <-sig:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return refEntry{}, false, ctx.Err()
		}
		t.Stop()
	}
}

func (l *Link) lookupRef(ctx context.Context, ref string) (refEntry, bool, error) {
	var e refEntry
	err := l.DB.QueryRow(ctx, `SELECT message_id, campaign_id, org_id, idx, part, parts FROM provider_refs
		WHERE provider = $1 AND ref = $2`, l.Name, ref).Scan(&e.message, &e.campaign, &e.org, &e.idx, &e.part, &e.parts)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	return e, err == nil, err
}

// inbound records a mobile-originated message as an event of the
// organisation that owns the sender it was sent to. One sent to a sender
// no single organisation owns is logged and acknowledged.
func (l *Link) inbound(ctx context.Context, mo *smpp.Inbound) error {
	find := l.Senders
	if find == nil {
		find = l.approvedSender
	}
	org, remitter, ok, err := find(ctx, mo.To)
	if err != nil {
		return err
	}
	if !ok {
		l.Log.Warn("inbound message to a sender no single organisation owns; acknowledged and dropped", "provider", l.Name, "to", mo.To)
		return nil
	}
	now := time.Now().UTC()
	p := events.InboundMessageReceivedV1{Provider: l.Name, From: mo.From, To: mo.To, Text: mo.Text, RemitterID: remitter, ReceivedAt: now}
	env, err := events.New(uuid.Must(uuid.NewV7()), org, uuid.Nil, p, now, "", uuid.Nil, "link."+l.Name)
	if err != nil {
		return err
	}
	rec, err := kafkalog.EncodeMessage(events.OnOrgStream(env))
	if err != nil {
		return err
	}
	if err := l.Producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("append inbound message: %w", err)
	}
	return nil
}

func (l *Link) approvedSender(ctx context.Context, sender string) (uuid.UUID, uuid.UUID, bool, error) {
	rows, err := l.DB.Query(ctx, `SELECT org_id, remitter_id FROM sender_ids WHERE status = 'APPROVED'
		AND (sender = $1 OR ltrim(sender, '+') = ltrim($1, '+')) LIMIT 2`, sender)
	if err != nil {
		return uuid.Nil, uuid.Nil, false, err
	}
	type owner struct{ org, rem uuid.UUID }
	os, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (owner, error) {
		var o owner
		return o, r.Scan(&o.org, &o.rem)
	})
	if err != nil || len(os) != 1 {
		return uuid.Nil, uuid.Nil, false, err
	}
	return os[0].org, os[0].rem, true, nil
}

// Prune deletes refs older than age (receipts come within an SMS's
// validity, at most days), in slices so no statement holds locks for
// long.
func (l *Link) Prune(ctx context.Context, age time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := l.DB.Exec(ctx, `DELETE FROM provider_refs WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM provider_refs WHERE created_at < now() - $1 * interval '1 second' LIMIT 10000))`, age.Seconds())
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 10000 {
			return total, nil
		}
	}
}

package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/projections/campaigns"
)

// MessageReads reads messages for Retrieve Message and the message list.
type MessageReads interface {
	Single(ctx context.Context, org, id uuid.UUID) (campaigns.SingleView, error)
	Singles(ctx context.Context, org uuid.UUID, q campaigns.SingleQuery) ([]campaigns.SingleView, bool, error)
}

// MaxMessageBodyBytes bounds a Send Message request: 10,000 four-byte
// characters of content and a few short fields fit in a tenth of it.
const MaxMessageBodyBytes = 256 << 10

const (
	msgMessageAccepted = "Message accepted and queued for sending."
	msgMessageFunds    = "Your account balance is too low to send this message. Please top up your credits."
	singlePageDefault  = 20
	singlePageMax      = 100
	cursorSingles      = "s1"
)

func (s *Server) messageRoutes(mux *Mux) {
	mux.HandleFunc("POST /c/v1/messages", s.authed("", s.limitedBy(messagePolicy, requireScope(apikey.ScopeMessageSend, s.postMessage))))
	read := func(h http.HandlerFunc) http.HandlerFunc {
		return s.authed("", requireAnyScope(h, apikey.ScopeMessageSend, apikey.ScopeCampaignRead))
	}
	mux.HandleFunc("GET /c/v1/messages", read(s.listSingles))
	mux.HandleFunc("GET /c/v1/messages/{message_id}", read(s.getMessage))
	mux.HandleFunc("/c/v1/messages", methodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc("/c/v1/messages/{message_id}", methodNotAllowed("GET, HEAD"))
}

// requireAnyScope refuses a key that holds none of scopes with 403.
func requireAnyScope(h http.HandlerFunc, scopes ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r.Context())
		for _, sc := range scopes {
			if p.HasScope(sc) {
				h(w, r)
				return
			}
		}
		respond(w, r, missingScope("one of "+strings.Join(scopes, ", ")))
	}
}

// postMessage is POST /c/v1/messages (Send Message): the batch endpoint's
// checks in the same order, for one recipient whose number is checked
// before the 202.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p := principal(r.Context())
	status, code := 0, ""
	defer func() {
		s.Log.Debug("message request", "status", status, "code", code, "org_id", p.OrgID, "key_id", p.KeyID,
			"trace_id", TraceID(r.Context()), "duration_ms", time.Since(start).Milliseconds())
	}()
	body, idemKey, refused := readCommand(w, r, MaxMessageBodyBytes, fmt.Sprintf("%d bytes (256 KiB)", MaxMessageBodyBytes))
	if refused == nil {
		req, ferrs := parseMessage(body)
		if ferrs != nil {
			refused = parseRefusal(body, ferrs)
		} else {
			res, err := s.Accept.AcceptMessage(r.Context(), accept.Caller{OrgID: p.OrgID, APIKeyID: p.KeyID, TraceID: TraceID(r.Context())}, req, idemKey)
			if err == nil {
				status = http.StatusAccepted
				if res.Replayed {
					w.Header().Set("Idempotent-Replayed", "true")
				}
				writeJSON(w, http.StatusAccepted, map[string]string{
					"message":    msgMessageAccepted,
					"message_id": res.CampaignID.String(),
				})
				return
			}
			refused = s.problemOf(r.Context(), "accept message", err, notRecorded("message"))
			if refused.Class() == problem.InsufficientFunds {
				// Worded for one message rather than a batch.
				refused = refused.WithMessage(msgMessageFunds)
			}
		}
	}
	status, code = Status(refused), string(refused.Code)
	respond(w, r, refused)
}

// getMessage is GET /c/v1/messages/{message_id} (Retrieve Message).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("message_id"))
	if err != nil {
		respond(w, r, errMessageNotFound)
		return
	}
	v, err := s.Messages.Single(r.Context(), principal(r.Context()).OrgID, id)
	if errors.Is(err, campaigns.ErrNotFound) {
		// The read model's not-found names a message here.
		err = errMessageNotFound.Because(err)
	}
	if err != nil {
		s.fail(w, r, "get message", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// listSingles is GET /c/v1/messages: the organisation's single messages,
// newest first; filters status, reference, recipient, created_from,
// created_to; limit, cursor.
func (s *Server) listSingles(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "status", "reference", "recipient", "created_from", "created_to", "limit", "cursor")
	sq := campaigns.SingleQuery{
		Statuses:  q.statuses(campaigns.SingleStatuses),
		Reference: q.v.Get("reference"),
		From:      q.time("created_from"),
		To:        q.time("created_to"),
		Limit:     q.limit(singlePageDefault, singlePageMax),
	}
	if len([]rune(sq.Reference)) > 100 {
		q.errs["reference"] = "String should have at most 100 characters."
	}
	if rc := strings.TrimSpace(q.v.Get("recipient")); rc != "" {
		// Recipients are matched in E.164, so any spelling of an
		// international number finds it.
		n, reason := phone.Normalize(rc, "")
		if reason != "" {
			q.errs["recipient"] = "Value error, give the number in E.164 (e.g. +244923000001): " + campaign.NumberReasonText(reason) + "."
		}
		sq.E164 = n.E164
	}
	if !sq.From.IsZero() && !sq.To.IsZero() && !sq.From.Before(sq.To) {
		q.errs["created_to"] = "Must be later than created_from."
	}
	sq.After = q.listCursor(cursorSingles)
	if ferrs := q.result(); ferrs != nil {
		respond(w, r, invalidQuery(ferrs))
		return
	}
	vs, more, err := s.Messages.Singles(r.Context(), principal(r.Context()).OrgID, sq)
	if err != nil {
		s.fail(w, r, "list messages", err)
		return
	}
	page := listPage[campaigns.SingleView]{Data: vs, HasMore: more}
	if vs == nil {
		page.Data = []campaigns.SingleView{}
	}
	if more {
		last := vs[len(vs)-1]
		c := encodeCursor(cursorSingles, strconv.FormatInt(last.CreatedAt.UnixMicro(), 10), last.MessageID.String())
		page.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, page)
}

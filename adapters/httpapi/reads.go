package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/projections/campaigns"
)

// CampaignLists reads the pages of the list endpoints from the read model.
type CampaignLists interface {
	List(ctx context.Context, org uuid.UUID, q campaigns.ListQuery) ([]campaigns.View, bool, error)
	Messages(ctx context.Context, org, campaign uuid.UUID, q campaigns.MessageQuery) ([]campaigns.Message, bool, error)
}

// CampaignTrail reads a campaign's events from the log.
type CampaignTrail interface {
	Read(ctx context.Context, org, campaign uuid.UUID, cursor *kafkalog.TrailCursor, limit int) (kafkalog.TrailPage, error)
}

// trailTimeout bounds reading the log for one page of an audit trail.
const trailTimeout = 20 * time.Second

func (s *Server) readRoutes(mux *Mux) {
	read := func(h http.HandlerFunc) http.HandlerFunc { return s.authed(apikey.ScopeCampaignRead, h) }
	mux.HandleFunc("GET /c/v1/campaigns", read(s.listCampaigns))
	mux.HandleFunc("GET /c/v1/campaigns/{campaign_id}", read(s.getCampaign))
	mux.HandleFunc("GET /c/v1/campaigns/{campaign_id}/messages", read(s.listMessages))
	mux.HandleFunc("GET /c/v1/campaigns/{campaign_id}/events", read(s.listEvents))
	// Other methods on these paths get the envelope rather than ServeMux's
	// plain-text 405. More specific patterns (POST .../batch) still win.
	mux.HandleFunc("/c/v1/campaigns", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("GET /c/v1/campaigns/batch", methodNotAllowed("POST"))
	mux.HandleFunc("/c/v1/campaigns/{campaign_id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("campaign_id") == "batch" {
			methodNotAllowed("POST")(w, r)
			return
		}
		methodNotAllowed("GET, HEAD")(w, r)
	})
	mux.HandleFunc("/c/v1/campaigns/{campaign_id}/messages", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("/c/v1/campaigns/{campaign_id}/events", methodNotAllowed("GET, HEAD"))
}

// campaignID reads the path's campaign id. Anything that is not a UUID is
// a campaign that does not exist, like another organisation's.
func campaignID(r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("campaign_id"))
	return id, err == nil
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request) {
	id, ok := campaignID(r)
	if !ok {
		respond(w, r, errCampaignNotFound)
		return
	}
	v, err := s.Campaigns.Get(r.Context(), principal(r.Context()).OrgID, id)
	if err != nil {
		s.fail(w, r, "get campaign", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// listPage is the body of every list endpoint. NextCursor is null on the
// last page, except for the audit trail, where it marks where events
// appended later will start.
type listPage[T any] struct {
	Data       []T     `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) {
	q, ferrs := parseListQuery(r)
	if ferrs != nil {
		respond(w, r, invalidQuery(ferrs))
		return
	}
	vs, more, err := s.Lists.List(r.Context(), principal(r.Context()).OrgID, q)
	if err != nil {
		s.fail(w, r, "list campaigns", err)
		return
	}
	page := listPage[campaigns.View]{Data: vs, HasMore: more}
	if vs == nil {
		page.Data = []campaigns.View{}
	}
	if more {
		last := vs[len(vs)-1]
		c := encodeCampaignCursor(campaigns.ListCursor{CreatedAt: last.CreatedAt, ID: last.CampaignID})
		page.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	id, ok := campaignID(r)
	if !ok {
		respond(w, r, errCampaignNotFound)
		return
	}
	q, ferrs := parseMessageQuery(r)
	if ferrs != nil {
		respond(w, r, invalidQuery(ferrs))
		return
	}
	ms, more, err := s.Lists.Messages(r.Context(), principal(r.Context()).OrgID, id, q)
	if err != nil {
		s.fail(w, r, "list messages", err)
		return
	}
	page := listPage[campaigns.Message]{Data: ms, HasMore: more}
	if ms == nil {
		page.Data = []campaigns.Message{}
	}
	if more {
		c := encodeMessageCursor(ms[len(ms)-1].Index)
		page.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, page)
}

// AuditEvent is one event of a campaign's audit trail, as the log holds
// it: the CloudEvents attributes, the payload, and its place in the log.
type AuditEvent struct {
	EventID     uuid.UUID       `json:"event_id"`
	Type        string          `json:"type"`
	Version     int             `json:"version"`
	Time        time.Time       `json:"time"`
	Source      string          `json:"source"`
	CausationID *uuid.UUID      `json:"causation_id"`
	TraceID     string          `json:"trace_id,omitempty"`
	Topic       string          `json:"topic"`
	Partition   int32           `json:"partition"`
	Offset      int64           `json:"offset"`
	Payload     json.RawMessage `json:"payload"`
}

// NewAuditEvent presents a trail event.
func NewAuditEvent(e kafkalog.TrailEvent) AuditEvent {
	a := AuditEvent{
		EventID: e.ID, Type: string(e.Type), Version: e.Version, Time: e.OccurredAt, Source: e.Source,
		TraceID: e.TraceID, Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, Payload: e.Data,
	}
	if e.CausationID != uuid.Nil {
		c := e.CausationID
		a.CausationID = &c
	}
	if !json.Valid(a.Payload) {
		// Keep the response valid JSON whatever a producer wrote.
		a.Payload, _ = json.Marshal(string(e.Data))
	}
	return a
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := campaignID(r)
	if !ok {
		respond(w, r, errCampaignNotFound)
		return
	}
	cursor, limit, ferrs := parseEventQuery(r)
	if ferrs != nil {
		respond(w, r, invalidQuery(ferrs))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), trailTimeout)
	defer cancel()
	page, err := s.Trail.Read(ctx, principal(r.Context()).OrgID, id, cursor, limit)
	if err != nil {
		s.fail(w, r, "read audit trail", err)
		return
	}
	// The trail holds only events that carry the caller's organisation:
	// none means the campaign is missing or someone else's.
	if cursor == nil && len(page.Events) == 0 {
		respond(w, r, errCampaignNotFound)
		return
	}
	out := listPage[AuditEvent]{Data: make([]AuditEvent, len(page.Events)), HasMore: page.More}
	for i, e := range page.Events {
		out.Data[i] = NewAuditEvent(e)
	}
	c := encodeEventCursor(page.Next)
	out.NextCursor = &c
	writeJSON(w, http.StatusOK, out)
}

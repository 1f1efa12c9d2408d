package dashboard

import (
	"net/http"
	"net/url"
	"slices"

	"ziett.co/campaigns/projections/campaigns"
)

// singlesData is a page of single messages (Send Message).
type singlesData struct {
	Status   string
	Statuses []string
	After    string
	Next     string
	Rows     []campaigns.SingleView
	LiveURL  string
}

func (s *Server) loadSingles(r *http.Request, c *reqCtx) (singlesData, error) {
	q := r.URL.Query()
	d := singlesData{Statuses: campaigns.SingleStatuses}
	sq := campaigns.SingleQuery{Limit: s.cfg.PageSize}
	if st := q.Get("status"); slices.Contains(campaigns.SingleStatuses, st) {
		d.Status, sq.Statuses = st, []string{st}
	}
	if cur, ok := parseListCursor(q.Get("after")); ok && cur != nil {
		d.After, sq.After = q.Get("after"), cur
	}
	vs, more, err := s.cfg.Messages.Singles(r.Context(), c.P.OrgID, sq)
	if err != nil {
		return d, err
	}
	d.Rows = vs
	if more {
		last := vs[len(vs)-1]
		d.Next = listCursor(campaigns.View{CreatedAt: last.CreatedAt, CampaignID: last.MessageID})
	}
	v := url.Values{}
	if d.Status != "" {
		v.Set("status", d.Status)
	}
	if d.After != "" {
		v.Set("after", d.After)
	}
	d.LiveURL = "/messages/live"
	if len(v) > 0 {
		d.LiveURL += "?" + v.Encode()
	}
	return d, nil
}

func (s *Server) refuseMessages(w http.ResponseWriter, r *http.Request, c *reqCtx) bool {
	if s.cfg.Messages == nil {
		s.renderError(w, r, c, http.StatusNotFound, "Page not found", "There is no page at this address.")
		return true
	}
	if !c.CanRead() {
		s.renderError(w, r, c, http.StatusForbidden, "Not allowed", "This API key cannot read messages (it lacks the apikey:campaign:read scope).")
		return true
	}
	return false
}

// messagesPage lists the organisation's single messages, newest first.
func (s *Server) messagesPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.refuseMessages(w, r, c) {
		return
	}
	d, err := s.loadSingles(r, c)
	if err != nil {
		s.unavailable(w, r, c, "list messages", err)
		return
	}
	s.render(w, r, http.StatusOK, "messages", &pageData{Title: "Messages", Nav: "messages", C: c, Data: d})
}

// messagesLive is the list alone, polled.
func (s *Server) messagesLive(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.cfg.Messages == nil || !c.CanRead() {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	d, err := s.loadSingles(r, c)
	if err != nil {
		s.cfg.Log.Warn("dashboard live messages", "err", err)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.render(w, r, http.StatusOK, "messages", &pageData{C: c, Data: d}, "singles")
}

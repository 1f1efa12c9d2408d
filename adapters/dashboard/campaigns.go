package dashboard

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/projections/campaigns"
)

// maxSearch bounds the name search, as long as the longest name.
const maxSearch = 200

type listData struct {
	Query   string
	After   string // this page's cursor, "" on the first
	Next    string // the next page's cursor, "" on the last
	Rows    []campaigns.View
	LiveURL string
	// Flash is a one-line notice (a campaign just accepted).
	Flash string
}

func parseListCursor(s string) (*campaigns.ListCursor, bool) {
	if s == "" {
		return nil, true
	}
	micros, id, ok := strings.Cut(s, "_")
	n, err := strconv.ParseInt(micros, 10, 64)
	u, err2 := uuid.Parse(id)
	if !ok || err != nil || err2 != nil {
		return nil, false
	}
	return &campaigns.ListCursor{CreatedAt: time.UnixMicro(n), ID: u}, true
}

func listCursor(v campaigns.View) string {
	return strconv.FormatInt(v.CreatedAt.UnixMicro(), 10) + "_" + v.CampaignID.String()
}

// loadList reads one page of the organisation's campaigns.
func (s *Server) loadList(ctx context.Context, c *reqCtx, r *http.Request) (listData, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if utf8.RuneCountInString(q) > maxSearch {
		q = string([]rune(q)[:maxSearch])
	}
	after := r.URL.Query().Get("after")
	cur, ok := parseListCursor(after)
	if !ok {
		after, cur = "", nil
	}
	d := listData{Query: q, After: after}
	vs, more, err := s.cfg.Lists.List(ctx, c.P.OrgID, campaigns.ListQuery{Name: q, After: cur, Limit: s.cfg.PageSize})
	if err != nil {
		return d, err
	}
	d.Rows = vs
	if more {
		d.Next = listCursor(vs[len(vs)-1])
	}
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if after != "" {
		v.Set("after", after)
	}
	d.LiveURL = "/campaigns/live"
	if len(v) > 0 {
		d.LiveURL += "?" + v.Encode()
	}
	return d, nil
}

func (s *Server) campaignList(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if !c.CanRead() {
		s.renderError(w, r, c, http.StatusForbidden, "Not allowed", "This API key cannot read campaigns (it lacks the apikey:campaign:read scope).")
		return
	}
	d, err := s.loadList(r.Context(), c, r)
	if err != nil {
		s.unavailable(w, r, c, "list campaigns", err)
		return
	}
	if r.URL.Query().Get("accepted") != "" {
		d.Flash = "Campaign accepted. It appears here as soon as it is processed."
	}
	// A search from the live search box replaces only the list.
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "list" {
		s.render(w, r, http.StatusOK, "campaigns", &pageData{C: c, Data: d}, "list")
		return
	}
	s.render(w, r, http.StatusOK, "campaigns", &pageData{Title: "Campaigns", Nav: "campaigns", C: c, Data: d})
}

// campaignRows is the live list: the same fragment, polled.
func (s *Server) campaignRows(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if !c.CanRead() {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	d, err := s.loadList(r.Context(), c, r)
	if err != nil {
		// Keep what is shown; the next poll tries again.
		s.cfg.Log.Warn("dashboard live list", "err", err)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.render(w, r, http.StatusOK, "campaigns", &pageData{C: c, Data: d}, "list")
}

// messageStatuses are the filters of the messages table.
var messageStatuses = []string{campaigns.MessageQueued, campaigns.MessageSent, campaigns.MessageDelivered,
	campaigns.MessageUndelivered, campaigns.MessageExpired, campaigns.MessageRejected, campaigns.MessageFailed,
	campaigns.MessageInvalid, campaigns.MessageDuplicate, campaigns.MessageCancelled}

type campaignData struct {
	V       campaigns.View
	Pending bool // accepted but not yet in the read model
	ID      uuid.UUID
	// Messages table.
	Status   string
	Statuses []string
	Messages []campaigns.Message
	After    int
	Next     int // -1 on the last page
	CSVURL   string
	Steps    []step
	Funnel   []funnelStep
	Provs    []provider
}

type step struct {
	Name string
	At   *time.Time
	Done bool
}

type funnelStep struct {
	Name  string
	N     int
	Of    int
	Known bool
	Note  string
}

type provider struct {
	Name string
	M    campaigns.Messages
}

func (s *Server) campaignID(w http.ResponseWriter, r *http.Request, c *reqCtx) (uuid.UUID, bool) {
	if !c.CanRead() {
		s.renderError(w, r, c, http.StatusForbidden, "Not allowed", "This API key cannot read campaigns (it lacks the apikey:campaign:read scope).")
		return uuid.Nil, false
	}
	id, err := uuid.Parse(r.PathValue("campaign_id"))
	if err != nil {
		s.notFound(w, r, c)
		return uuid.Nil, false
	}
	return id, true
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.renderError(w, r, c, http.StatusNotFound, "Campaign not found", "There is no such campaign in your organisation.")
}

// isNotFound reports whether err is the API's not-found (another
// organisation's campaign is one too).
func isNotFound(err error) bool {
	p := httpapi.Problem(err)
	return p != nil && p.Class() == problem.NotFound
}

func (s *Server) loadCampaign(ctx context.Context, c *reqCtx, id uuid.UUID) (campaignData, error) {
	v, err := s.cfg.Campaigns.Get(ctx, c.P.OrgID, id)
	if err != nil {
		return campaignData{ID: id}, err
	}
	d := campaignData{V: v, ID: id}
	d.Steps = []step{
		{Name: "Accepted", At: &v.CreatedAt, Done: true},
		{Name: "Processed", At: v.ProcessedAt, Done: v.ProcessedAt != nil},
		{Name: "Sending", At: v.SendingAt, Done: v.SendingAt != nil},
	}
	if v.FailedAt != nil {
		d.Steps = append(d.Steps, step{Name: "Failed", At: v.FailedAt, Done: true})
	} else {
		d.Steps = append(d.Steps, step{Name: "Completed", At: v.CompletedAt, Done: v.CompletedAt != nil})
	}
	sub := v.Recipients.Submitted
	d.Funnel = []funnelStep{
		{Name: "Submitted", N: sub, Of: sub, Known: true},
		{Name: "Valid", N: v.Recipients.Valid, Of: sub, Known: v.ProcessedAt != nil},
		{Name: "Sent", N: v.Messages.Sent, Of: sub, Known: v.ProcessedAt != nil},
		{Name: "Delivered", N: v.Messages.Delivered, Of: sub, Known: v.Messages.Delivered+v.Messages.Undelivered+v.Messages.Expired+v.Messages.Rejected > 0,
			Note: "no delivery receipts yet"},
	}
	for name, m := range v.Providers {
		d.Provs = append(d.Provs, provider{Name: name, M: m})
	}
	slices.SortFunc(d.Provs, func(a, b provider) int { return strings.Compare(a.Name, b.Name) })
	return d, nil
}

func (s *Server) campaignPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id, ok := s.campaignID(w, r, c)
	if !ok {
		return
	}
	d, err := s.loadCampaign(r.Context(), c, id)
	switch {
	case isNotFound(err):
		if r.URL.Query().Get("new") == "" {
			s.notFound(w, r, c)
			return
		}
		// Just accepted: the read model shows it moments later, and the
		// live part picks it up.
		d.Pending = true
		s.render(w, r, http.StatusOK, "campaign", &pageData{Title: "New campaign", Nav: "campaigns", C: c, Data: d})
		return
	case err != nil:
		s.unavailable(w, r, c, "get campaign", err)
		return
	}
	q := r.URL.Query()
	d.Statuses = messageStatuses
	d.After, d.Next = -1, -1
	mq := campaigns.MessageQuery{AfterIndex: -1, Limit: s.cfg.PageSize}
	if st := q.Get("status"); slices.Contains(messageStatuses, st) {
		d.Status = st
		mq.Statuses = []string{st}
	}
	if n, err := strconv.Atoi(q.Get("after")); err == nil && n >= 0 {
		d.After, mq.AfterIndex = n, n
	}
	ms, more, err := s.cfg.Lists.Messages(r.Context(), c.P.OrgID, id, mq)
	if err != nil {
		s.unavailable(w, r, c, "list messages", err)
		return
	}
	d.Messages = ms
	if more {
		d.Next = ms[len(ms)-1].Index
	}
	d.CSVURL = "/campaigns/" + id.String() + "/messages.csv"
	if d.Status != "" {
		d.CSVURL += "?status=" + d.Status
	}
	s.render(w, r, http.StatusOK, "campaign", &pageData{Title: d.V.Name, Nav: "campaigns", C: c, Data: d})
}

// campaignLive is the campaign's summary, polled while it runs.
func (s *Server) campaignLive(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id, ok := s.campaignID(w, r, c)
	if !ok {
		return
	}
	d, err := s.loadCampaign(r.Context(), c, id)
	switch {
	case isNotFound(err):
		d.Pending = true
	case err != nil:
		s.cfg.Log.Warn("dashboard live campaign", "err", err)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.render(w, r, http.StatusOK, "campaign", &pageData{C: c, Data: d}, "summary")
}

type trailData struct {
	ID     uuid.UUID
	Events []httpapi.AuditEvent
	More   bool
	Error  string
}

// trailLimit is how many events of the log the page shows.
const trailLimit = 200

// campaignTrail reads the campaign's events from the log, the source of
// truth, as the API's audit trail does.
func (s *Server) campaignTrail(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id, ok := s.campaignID(w, r, c)
	if !ok {
		return
	}
	d := trailData{ID: id}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	page, err := s.cfg.Trail.Read(ctx, c.P.OrgID, id, nil, trailLimit)
	if err != nil {
		s.cfg.Log.Error("dashboard audit trail", "err", err)
		d.Error = "The audit trail could not be read from the event log. Please try again."
	} else {
		for _, e := range page.Events {
			d.Events = append(d.Events, httpapi.NewAuditEvent(e))
		}
		d.More = page.More
	}
	if r.Header.Get("HX-Request") == "true" {
		s.render(w, r, http.StatusOK, "campaign", &pageData{C: c, Data: d}, "trail")
		return
	}
	s.render(w, r, http.StatusOK, "trail", &pageData{Title: "Audit trail", Nav: "campaigns", C: c, Data: d})
}

// messagesCSV exports every message of the campaign (of one status when
// filtered), page by page from the read model.
func (s *Server) messagesCSV(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id, ok := s.campaignID(w, r, c)
	if !ok {
		return
	}
	mq := campaigns.MessageQuery{AfterIndex: -1, Limit: 1000}
	if st := r.URL.Query().Get("status"); slices.Contains(messageStatuses, st) {
		mq.Statuses = []string{st}
	}
	ms, more, err := s.cfg.Lists.Messages(r.Context(), c.P.OrgID, id, mq)
	switch {
	case isNotFound(err):
		s.notFound(w, r, c)
		return
	case err != nil:
		s.unavailable(w, r, c, "export messages", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="campaign-`+id.String()+`-messages.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"index", "message_id", "recipient", "e164", "status", "provider", "segments", "cost", "currency", //nolint:errcheck
		"error_code", "error", "provider_ref", "attempts", "created_at", "sent_at", "failed_at", "delivered_at", "receipt_stat", "receipt_err"})
	for {
		for _, m := range ms {
			row := []string{strconv.Itoa(m.Index), "", derefStr(m.Recipient), derefStr(m.E164), m.Status,
				derefStr(m.Provider), "", strconv.FormatInt(m.Cost, 10), m.Currency, "", "", csvSafe(derefStr(m.ProviderRef)),
				strconv.Itoa(m.Attempts), csvTime(m.CreatedAt), csvTime(m.SentAt), csvTime(m.FailedAt), csvTime(m.DeliveredAt), "", ""}
			if m.MessageID != nil {
				row[1] = m.MessageID.String()
			}
			if m.Segments != nil {
				row[6] = strconv.Itoa(*m.Segments)
			}
			if m.Error != nil {
				row[9], row[10] = m.Error.Code, csvSafe(m.Error.Message)
			}
			if m.Receipt != nil {
				row[17], row[18] = csvSafe(m.Receipt.Stat), csvSafe(m.Receipt.Err)
			}
			cw.Write(row) //nolint:errcheck
		}
		if !more || len(ms) == 0 {
			break
		}
		mq.AfterIndex = ms[len(ms)-1].Index
		if ms, more, err = s.cfg.Lists.Messages(r.Context(), c.P.OrgID, id, mq); err != nil {
			s.cfg.Log.Error("dashboard export messages", "err", err)
			break
		}
	}
	cw.Flush()
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// csvSafe keeps a spreadsheet from reading a free-text cell as a formula.
// Recipients need none: the API admits only digits, spaces, dashes, dots
// and a leading plus.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/phone"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/text"
	"ziett.co/campaigns/projections/campaigns"
)

// SuppressionReads reads an organisation's suppression list
// (projections/campaigns).
type SuppressionReads interface {
	Suppressions(ctx context.Context, org uuid.UUID, after string, limit int) ([]campaigns.Suppression, bool, error)
	IsSuppressed(ctx context.Context, org uuid.UUID, e164 string) (bool, error)
}

// SuppressionCommands changes it (commands/control.Consent).
type SuppressionCommands interface {
	Suppress(ctx context.Context, org uuid.UUID, numbers []string) error
	Unsuppress(ctx context.Context, org uuid.UUID, e164 string) error
}

// maxSuppressNumbers bounds one request, as a batch bounds its recipients.
const maxSuppressNumbers = 1000

const cursorSuppressions = "s1"

func (s *Server) suppressionRoutes(mux *Mux) {
	mux.HandleFunc("GET /c/v1/suppressions", s.authed(apikey.ScopeCampaignRead, s.listSuppressions))
	mux.HandleFunc("POST /c/v1/suppressions", s.authed(apikey.ScopeCampaignSend, s.addSuppressions))
	mux.HandleFunc("/c/v1/suppressions", methodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc("DELETE /c/v1/suppressions/{e164}", s.authed(apikey.ScopeCampaignSend, s.deleteSuppression))
	mux.HandleFunc("/c/v1/suppressions/{e164}", methodNotAllowed("DELETE"))
}

func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "limit", "cursor")
	limit := q.limit(100, 1000)
	after := ""
	if parts, ok := q.cursor(cursorSuppressions); ok {
		after = parts[0]
	}
	if ferrs := q.result(); ferrs != nil {
		respond(w, r, invalidQuery(ferrs))
		return
	}
	list, more, err := s.Suppressions.Suppressions(r.Context(), principal(r.Context()).OrgID, after, limit)
	if err != nil {
		s.fail(w, r, "list suppressions", err)
		return
	}
	page := listPage[campaigns.Suppression]{Data: list, HasMore: more}
	if page.Data == nil {
		page.Data = []campaigns.Suppression{}
	}
	if more {
		c := encodeCursor(cursorSuppressions, list[len(list)-1].E164)
		page.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, page)
}

// addSuppressions takes {"numbers": [...], "country_alpha2": "AO"}: local
// numbers need the country, as batch recipients do.
func (s *Server) addSuppressions(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r, false)
	if !ok {
		return
	}
	ferrs := map[string]string{}
	unknownFields(obj, ferrs, "numbers", "country_alpha2")
	country := ""
	if raw, ok := obj["country_alpha2"]; ok {
		c, p := decodeText(raw, text.Line)
		switch {
		case p != "":
			ferrs["country_alpha2"] = p
		case len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z':
			ferrs["country_alpha2"] = "String should match pattern '^[A-Z]{2}$'."
		default:
			country = c
		}
	}
	var raws []json.RawMessage
	if raw, ok := obj["numbers"]; !ok {
		ferrs["numbers"] = "Field required"
	} else if err := json.Unmarshal(raw, &raws); err != nil || raws == nil {
		ferrs["numbers"] = "Input should be a valid list"
	} else if len(raws) < 1 || len(raws) > maxSuppressNumbers {
		ferrs["numbers"] = "List should have 1 to " + strconv.Itoa(maxSuppressNumbers) + " items."
	}
	var numbers []string
	seen := map[string]bool{}
	for i, raw := range raws {
		key := "numbers[" + strconv.Itoa(i) + "]"
		n, p := decodeText(raw, text.Line)
		if p != "" {
			ferrs[key] = p
			continue
		}
		norm, reason := phone.Normalize(n, country)
		if reason != "" {
			ferrs[key] = "Not a valid phone number (" + reason + ")" + map[bool]string{true: "; local numbers need country_alpha2.", false: "."}[country == ""]
			continue
		}
		if !seen[norm.E164] {
			seen[norm.E164] = true
			numbers = append(numbers, norm.E164)
		}
	}
	if len(ferrs) > 0 {
		respond(w, r, problem.InvalidFields(ferrs))
		return
	}
	if err := s.Consent.Suppress(r.Context(), principal(r.Context()).OrgID, numbers); err != nil {
		s.fail(w, r, "suppress numbers", err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"message": "The numbers will be suppressed before the organisation's next campaign is processed.",
		"numbers": numbers,
	})
}

func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("e164")
	norm, reason := phone.Normalize(n, "")
	if reason != "" || norm.E164 != n {
		respond(w, r, errNotSuppressed)
		return
	}
	org := principal(r.Context()).OrgID
	on, err := s.Suppressions.IsSuppressed(r.Context(), org, n)
	if err != nil {
		s.fail(w, r, "read suppression", err)
		return
	}
	if !on {
		respond(w, r, errNotSuppressed)
		return
	}
	if err := s.Consent.Unsuppress(r.Context(), org, n); err != nil {
		s.fail(w, r, "unsuppress number", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

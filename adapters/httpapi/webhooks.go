package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"ziett.co/campaigns/commands/webhooks"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/text"
	"ziett.co/campaigns/domain/webhook"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// WebhookStore keeps webhook endpoints (commands/webhooks.Service) and
// reads their deliveries (projections/webhooks.Reader); both make
// adapters/webhooks.Registry.
type WebhookStore interface {
	Create(ctx context.Context, org uuid.UUID, in webhooks.NewEndpoint) (webhooks.Endpoint, string, error)
	List(ctx context.Context, org uuid.UUID) ([]webhooks.Endpoint, error)
	Get(ctx context.Context, org, id uuid.UUID) (webhooks.Endpoint, error)
	Delete(ctx context.Context, org, id uuid.UUID) error
	RotateSecret(ctx context.Context, org, id uuid.UUID, keepOld time.Duration) (webhooks.Endpoint, string, error)
	Enable(ctx context.Context, org, id uuid.UUID) (webhooks.Endpoint, error)
	Deliveries(ctx context.Context, org, id uuid.UUID, q whproj.DeliveryQuery) ([]whproj.Delivery, bool, error)
	Resend(ctx context.Context, org, endpoint, delivery uuid.UUID) error
}

// Limits of an endpoint's registration.
const (
	maxWebhookBody        = 64 << 10
	maxWebhookURL         = 2048
	maxWebhookDescription = 500
	// How long a rotated-out secret keeps signing unless the request says
	// otherwise, and the longest it may.
	defaultKeepOldSecret = 24 * time.Hour
	maxKeepOldSecret     = 7 * 24 * time.Hour

	deliveryPageDefault, deliveryPageMax = 20, 100
	cursorDeliveries                     = "d1"
)

var deliveryStatuses = []string{webhook.Pending, webhook.Delivered, webhook.Failed}

func (s *Server) webhookRoutes(mux *Mux) {
	if s.Webhooks == nil {
		return
	}
	manage := func(h http.HandlerFunc) http.HandlerFunc { return s.authed(apikey.ScopeWebhooksManage, h) }
	mux.HandleFunc("POST /c/v1/webhooks", manage(s.createWebhook))
	mux.HandleFunc("GET /c/v1/webhooks", manage(s.listWebhooks))
	mux.HandleFunc("GET /c/v1/webhooks/{webhook_id}", manage(s.getWebhook))
	mux.HandleFunc("DELETE /c/v1/webhooks/{webhook_id}", manage(s.deleteWebhook))
	mux.HandleFunc("POST /c/v1/webhooks/{webhook_id}/secret/rotate", manage(s.rotateWebhookSecret))
	mux.HandleFunc("POST /c/v1/webhooks/{webhook_id}/enable", manage(s.enableWebhook))
	mux.HandleFunc("GET /c/v1/webhooks/{webhook_id}/deliveries", manage(s.listWebhookDeliveries))
	mux.HandleFunc("POST /c/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend", manage(s.resendWebhookDelivery))
	mux.HandleFunc("/c/v1/webhooks", methodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc("/c/v1/webhooks/{webhook_id}", methodNotAllowed("GET, HEAD, DELETE"))
	mux.HandleFunc("/c/v1/webhooks/{webhook_id}/secret/rotate", methodNotAllowed("POST"))
	mux.HandleFunc("/c/v1/webhooks/{webhook_id}/enable", methodNotAllowed("POST"))
	mux.HandleFunc("/c/v1/webhooks/{webhook_id}/deliveries", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("/c/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend", methodNotAllowed("POST"))
}

// webhookWithSecret is an endpoint as shown when its secret is issued:
// the only time the secret is shown.
type webhookWithSecret struct {
	webhooks.Endpoint
	Secret string `json:"secret"`
}

// webhookID reads the path's endpoint id; anything else is an endpoint
// that does not exist.
func webhookID(r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("webhook_id"))
	return id, err == nil
}

// readObject reads a JSON object body of at most maxWebhookBody bytes into
// its members, answering every way it can be wrong. An empty body is an
// empty object when optional.
func readObject(w http.ResponseWriter, r *http.Request, optional bool) (map[string]json.RawMessage, bool) {
	body, refused := readBody(w, r, maxWebhookBody, fmt.Sprintf("%d bytes", maxWebhookBody))
	if refused != nil {
		respond(w, r, refused)
		return nil, false
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return map[string]json.RawMessage{}, true
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		respond(w, r, errUnsupportedMedia)
		return nil, false
	}
	if !json.Valid(body) {
		respond(w, r, problem.New(problem.CodeMalformedJSON, "The request body is not valid JSON."))
		return nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		respond(w, r, problem.New(problem.CodeInvalidBodyType, "The request body must be a JSON object.").
			WithFields(map[string]string{"body": "Input should be a valid dictionary."}))
		return nil, false
	}
	return obj, true
}

// decodeText decodes a JSON string member that will be stored, or says
// why it cannot be: not a string, not valid text (see domain/text), or
// holding control characters a field of kind k may not.
func decodeText(raw json.RawMessage, k text.Kind) (string, string) {
	raw = bytes.TrimSpace(raw)
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", "Input should be a valid string."
	}
	if p := text.JSONStringProblem(raw); p != "" {
		return "", p
	}
	if p := text.Problem(s, k); p != "" {
		return "", p
	}
	return s, ""
}

// unknownFields records a field error for every member not in known.
func unknownFields(obj map[string]json.RawMessage, ferrs map[string]string, known ...string) {
	for k := range obj {
		if !slices.Contains(known, k) {
			ferrs[k] = "Extra inputs are not permitted; accepted: " + strings.Join(known, ", ") + "."
		}
	}
}

// parseNewEndpoint validates a registration: url (required, absolute
// http or https, no credentials), description (optional), event_types
// (optional, every type when absent).
func parseNewEndpoint(obj map[string]json.RawMessage) (webhooks.NewEndpoint, map[string]string) {
	ferrs := map[string]string{}
	unknownFields(obj, ferrs, "url", "description", "event_types")
	var in webhooks.NewEndpoint
	var msg string
	if raw, ok := obj["url"]; !ok || string(raw) == "null" {
		ferrs["url"] = "Field required."
	} else if in.URL, msg = decodeText(raw, text.Line); msg != "" {
		ferrs["url"] = msg
	} else if msg := checkWebhookURL(in.URL); msg != "" {
		ferrs["url"] = msg
	}
	if raw, ok := obj["description"]; ok && string(raw) != "null" {
		if in.Description, msg = decodeText(raw, text.Multiline); msg != "" {
			ferrs["description"] = msg
		} else if utf8.RuneCountInString(in.Description) > maxWebhookDescription {
			ferrs["description"] = "String should have at most " + strconv.Itoa(maxWebhookDescription) + " characters."
		}
	}
	in.EventTypes = slices.Clone(whproj.EventTypes)
	if raw, ok := obj["event_types"]; ok && string(raw) != "null" {
		var types []string
		switch err := json.Unmarshal(raw, &types); {
		case err != nil:
			ferrs["event_types"] = "Input should be a list of strings."
		case len(types) == 0:
			ferrs["event_types"] = "List should have at least 1 item; omit it to receive every event type."
		default:
			in.EventTypes = nil
			for _, t := range types {
				if !slices.Contains(whproj.AllEventTypes, t) {
					ferrs["event_types"] = fmt.Sprintf("Unknown event type %q; accepted: %s.", t, strings.Join(whproj.AllEventTypes, ", "))
					break
				}
				if !slices.Contains(in.EventTypes, t) {
					in.EventTypes = append(in.EventTypes, t)
				}
			}
		}
	}
	if len(ferrs) > 0 {
		return in, ferrs
	}
	return in, nil
}

// checkWebhookURL says what is wrong with a receiver URL, or "". Where the
// URL leads is checked when it is dialled, after resolution (see
// adapters/webhooks.Guard): a check here could not see a name rebound
// later.
func checkWebhookURL(s string) string {
	if s == "" {
		return "String should have at least 1 character."
	}
	if len(s) > maxWebhookURL {
		return "URL should have at most " + strconv.Itoa(maxWebhookURL) + " characters."
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return "Input should be an absolute URL, e.g. https://example.com/webhooks."
	case u.Scheme != "https" && u.Scheme != "http":
		return "URL scheme should be 'https' or 'http'."
	case u.Hostname() == "":
		return "URL should have a host."
	case u.User != nil:
		return "URL must not contain credentials; authenticate deliveries with their signature."
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "URL must not contain a fragment."
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "URL port should be between 1 and 65535."
		}
	}
	return ""
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r, false)
	if !ok {
		return
	}
	in, ferrs := parseNewEndpoint(obj)
	if ferrs != nil {
		respond(w, r, problem.InvalidFields(ferrs))
		return
	}
	e, secret, err := s.Webhooks.Create(r.Context(), principal(r.Context()).OrgID, in)
	if err != nil {
		s.fail(w, r, "create webhook", err)
		return
	}
	w.Header().Set("Location", "/c/v1/webhooks/"+e.ID.String())
	writeJSON(w, http.StatusCreated, webhookWithSecret{Endpoint: e, Secret: secret})
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	if ferrs := newQuery(r).result(); ferrs != nil {
		respond(w, r, invalidQuery(ferrs))
		return
	}
	es, err := s.Webhooks.List(r.Context(), principal(r.Context()).OrgID)
	if err != nil {
		s.fail(w, r, "list webhooks", err)
		return
	}
	if es == nil {
		es = []webhooks.Endpoint{}
	}
	// At most MaxEndpoints: one page, in the shape of the other lists.
	writeJSON(w, http.StatusOK, listPage[webhooks.Endpoint]{Data: es})
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := webhookID(r)
	if !ok {
		respond(w, r, errWebhookNotFound)
		return
	}
	e, err := s.Webhooks.Get(r.Context(), principal(r.Context()).OrgID, id)
	if err != nil {
		s.fail(w, r, "get webhook", err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := webhookID(r)
	if !ok {
		respond(w, r, errWebhookNotFound)
		return
	}
	if err := s.Webhooks.Delete(r.Context(), principal(r.Context()).OrgID, id); err != nil {
		s.fail(w, r, "delete webhook", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotateWebhookSecret issues a new secret. previous_secret_expires_in
// (seconds, 0 to 604800, default 86400) is how long the old secret keeps
// signing beside the new one.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	id, ok := webhookID(r)
	if !ok {
		respond(w, r, errWebhookNotFound)
		return
	}
	obj, ok := readObject(w, r, true)
	if !ok {
		return
	}
	ferrs := map[string]string{}
	unknownFields(obj, ferrs, "previous_secret_expires_in")
	keep := defaultKeepOldSecret
	if raw, ok := obj["previous_secret_expires_in"]; ok && string(raw) != "null" {
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil {
			ferrs["previous_secret_expires_in"] = "Input should be a valid integer (seconds)."
		} else if n < 0 || time.Duration(n)*time.Second > maxKeepOldSecret {
			ferrs["previous_secret_expires_in"] = fmt.Sprintf("Input should be between 0 and %d seconds.", int64(maxKeepOldSecret/time.Second))
		} else {
			keep = time.Duration(n) * time.Second
		}
	}
	if len(ferrs) > 0 {
		respond(w, r, problem.InvalidFields(ferrs))
		return
	}
	e, secret, err := s.Webhooks.RotateSecret(r.Context(), principal(r.Context()).OrgID, id, keep)
	if err != nil {
		s.fail(w, r, "rotate webhook secret", err)
		return
	}
	writeJSON(w, http.StatusOK, webhookWithSecret{Endpoint: e, Secret: secret})
}

func (s *Server) enableWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := webhookID(r)
	if !ok {
		respond(w, r, errWebhookNotFound)
		return
	}
	e, err := s.Webhooks.Enable(r.Context(), principal(r.Context()).OrgID, id)
	if err != nil {
		s.fail(w, r, "enable webhook", err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// listWebhookDeliveries is GET /c/v1/webhooks/{id}/deliveries: status,
// limit, cursor; newest first, each delivery with every attempt.
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	id, ok := webhookID(r)
	if !ok {
		respond(w, r, errWebhookNotFound)
		return
	}
	q := newQuery(r, "status", "limit", "cursor")
	dq := whproj.DeliveryQuery{
		Statuses: q.statuses(deliveryStatuses),
		Limit:    q.limit(deliveryPageDefault, deliveryPageMax),
	}
	if parts, ok := q.cursor(cursorDeliveries); ok {
		var micros int64
		var after uuid.UUID
		var err error
		if len(parts) == 2 {
			micros, err = strconv.ParseInt(parts[0], 10, 64)
			if err == nil {
				after, err = uuid.Parse(parts[1])
			}
		}
		if len(parts) != 2 || err != nil {
			q.badCursor()
		} else {
			dq.After = &whproj.DeliveryCursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: after}
		}
	}
	if ferrs := q.result(); ferrs != nil {
		respond(w, r, invalidQuery(ferrs))
		return
	}
	ds, more, err := s.Webhooks.Deliveries(r.Context(), principal(r.Context()).OrgID, id, dq)
	if err != nil {
		s.fail(w, r, "list webhook deliveries", err)
		return
	}
	page := listPage[whproj.Delivery]{Data: ds, HasMore: more}
	if ds == nil {
		page.Data = []whproj.Delivery{}
	}
	if more {
		last := ds[len(ds)-1]
		c := encodeCursor(cursorDeliveries, strconv.FormatInt(last.CreatedAt.UnixMicro(), 10), last.DeliveryID.String())
		page.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) resendWebhookDelivery(w http.ResponseWriter, r *http.Request) {
	id, ok := webhookID(r)
	if !ok {
		respond(w, r, errWebhookNotFound)
		return
	}
	delivery, err := uuid.Parse(r.PathValue("delivery_id"))
	if err != nil {
		respond(w, r, errDeliveryNotFound)
		return
	}
	if err := s.Webhooks.Resend(r.Context(), principal(r.Context()).OrgID, id, delivery); err != nil {
		s.fail(w, r, "resend webhook", err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{
		"message":     "Resend queued; the attempt will be listed with the delivery.",
		"delivery_id": delivery.String(),
	})
}

// ParseWebhookEndpoint validates a webhook registration (a JSON object
// body) as POST /c/v1/webhooks does, for other front ends (the dashboard).
func ParseWebhookEndpoint(body []byte) (webhooks.NewEndpoint, map[string]string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return webhooks.NewEndpoint{}, map[string]string{"body": "Input should be a valid dictionary."}
	}
	return parseNewEndpoint(obj)
}

// DefaultKeepOldSecret is how long a rotated-out secret keeps signing
// when the caller does not say.
const DefaultKeepOldSecret = defaultKeepOldSecret

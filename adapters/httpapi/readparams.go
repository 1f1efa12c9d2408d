package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/domain/text"
	"ziett.co/campaigns/projections/campaigns"
)

// Page sizes of the list endpoints: default and maximum.
const (
	campaignPageDefault, campaignPageMax = 20, 100
	messagePageDefault, messagePageMax   = 100, 1000
	eventPageDefault, eventPageMax       = 100, 1000
	maxSearchLen                         = 200 // a campaign name's own limit
)

var (
	campaignStatuses = []string{campaigns.StatusScheduled, campaigns.StatusProcessing, campaigns.StatusSending, campaigns.StatusPaused,
		campaigns.StatusCompleted, campaigns.StatusFailed, campaigns.StatusCancelled}
	messageStatuses = []string{campaigns.MessageQueued, campaigns.MessageSent, campaigns.MessageFailed,
		campaigns.MessageInvalid, campaigns.MessageDuplicate, campaigns.MessageCancelled,
		campaigns.MessageDelivered, campaigns.MessageUndelivered, campaigns.MessageExpired, campaigns.MessageRejected,
		campaigns.MessageSuppressed}
)

// query reads a request's query string, recording a field error for every
// parameter that is unknown, repeated where it may not be, or malformed.
type query struct {
	v    url.Values
	errs map[string]string
}

func newQuery(r *http.Request, known ...string) *query {
	q := &query{v: r.URL.Query(), errs: map[string]string{}}
	for k, vs := range q.v {
		switch {
		case !slices.Contains(known, k):
			q.errs[k] = "Unknown query parameter; accepted: " + strings.Join(known, ", ") + "."
		case len(vs) > 1 && k != "status":
			q.errs[k] = "Give this parameter at most once."
		default:
			// No parameter has a use for control characters, and a value
			// that is not UTF-8 cannot even be compared with stored text.
			// The value is then left out, so that the parameter's own
			// parser neither reads it nor replaces this message.
			for _, v := range vs {
				if p := text.Problem(v, text.Line); p != "" {
					q.errs[k] = p
					q.v.Del(k)
					break
				}
			}
		}
	}
	return q
}

func (q *query) result() map[string]string {
	if len(q.errs) == 0 {
		return nil
	}
	return q.errs
}

func (q *query) limit(def, maxN int) int {
	s := q.v.Get("limit")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		q.errs["limit"] = "Input should be a valid integer."
	case n < 1:
		q.errs["limit"] = "Input should be greater than or equal to 1."
	case n > maxN:
		q.errs["limit"] = "Input should be less than or equal to " + strconv.Itoa(maxN) + "."
	}
	return n
}

// statuses accepts a comma-separated list, the parameter repeated, or both.
func (q *query) statuses(allowed []string) []string {
	var out []string
	for _, v := range q.v["status"] {
		for _, s := range strings.Split(v, ",") {
			s = strings.ToUpper(strings.TrimSpace(s))
			if !slices.Contains(allowed, s) {
				q.errs["status"] = "Input should be one of " + strings.Join(allowed, ", ") + " (comma-separated for several)."
				return nil
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func (q *query) time(name string) time.Time {
	s := q.v.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		q.errs[name] = "Input should be an RFC 3339 date-time, e.g. 2026-05-14T10:30:00Z."
	}
	return t
}

// cursor decodes the cursor parameter of one kind of list; ok is false
// when there is none.
func (q *query) cursor(kind string) (parts []string, ok bool) {
	s := q.v.Get("cursor")
	if s == "" {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	parts = strings.Split(string(raw), ":")
	if err != nil || len(parts) < 2 || parts[0] != kind {
		q.errs["cursor"] = "The cursor is not one this list returned."
		return nil, false
	}
	return parts[1:], true
}

// listCursor decodes a (created_at, id) cursor of the given kind; nil when
// there is none or it is bad (then an error is recorded).
func (q *query) listCursor(kind string) *campaigns.ListCursor {
	parts, ok := q.cursor(kind)
	if !ok {
		return nil
	}
	if len(parts) == 2 {
		micros, err := strconv.ParseInt(parts[0], 10, 64)
		if id, err2 := uuid.Parse(parts[1]); err == nil && err2 == nil {
			return &campaigns.ListCursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: id}
		}
	}
	q.badCursor()
	return nil
}

func (q *query) badCursor() { q.errs["cursor"] = "The cursor is not one this list returned." }

func encodeCursor(kind string, parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strings.Join(parts, ":")))
}

// Cursor kinds: a cursor of one list is refused by another.
const (
	cursorCampaigns = "c1"
	cursorMessages  = "m1"
	cursorEvents    = "e1"
)

func encodeCampaignCursor(c campaigns.ListCursor) string {
	return encodeCursor(cursorCampaigns, strconv.FormatInt(c.CreatedAt.UnixMicro(), 10), c.ID.String())
}

func encodeMessageCursor(index int) string {
	return encodeCursor(cursorMessages, strconv.Itoa(index))
}

func encodeEventCursor(c kafkalog.TrailCursor) string {
	return encodeCursor(cursorEvents, strconv.FormatInt(c.Org, 10), strconv.FormatInt(c.Msg, 10))
}

// parseListQuery reads GET /c/v1/campaigns: status, created_from
// (inclusive), created_to (exclusive), q (name contains, any case),
// limit, cursor.
func parseListQuery(r *http.Request) (campaigns.ListQuery, map[string]string) {
	q := newQuery(r, "status", "created_from", "created_to", "q", "limit", "cursor")
	lq := campaigns.ListQuery{
		Statuses: q.statuses(campaignStatuses),
		From:     q.time("created_from"),
		To:       q.time("created_to"),
		Name:     strings.TrimSpace(q.v.Get("q")),
		Limit:    q.limit(campaignPageDefault, campaignPageMax),
	}
	if len([]rune(lq.Name)) > maxSearchLen {
		q.errs["q"] = "String should have at most " + strconv.Itoa(maxSearchLen) + " characters."
	}
	if !lq.From.IsZero() && !lq.To.IsZero() && !lq.From.Before(lq.To) {
		q.errs["created_to"] = "Must be later than created_from."
	}
	lq.After = q.listCursor(cursorCampaigns)
	return lq, q.result()
}

// parseMessageQuery reads GET /c/v1/campaigns/{id}/messages: status,
// limit, cursor.
func parseMessageQuery(r *http.Request) (campaigns.MessageQuery, map[string]string) {
	q := newQuery(r, "status", "limit", "cursor")
	mq := campaigns.MessageQuery{
		Statuses:   q.statuses(messageStatuses),
		Limit:      q.limit(messagePageDefault, messagePageMax),
		AfterIndex: -1,
	}
	if parts, ok := q.cursor(cursorMessages); ok {
		n, err := strconv.Atoi(parts[0])
		if len(parts) != 1 || err != nil || n < 0 {
			q.badCursor()
		} else {
			mq.AfterIndex = n
		}
	}
	return mq, q.result()
}

// parseEventQuery reads GET /c/v1/campaigns/{id}/events: limit, cursor.
func parseEventQuery(r *http.Request) (*kafkalog.TrailCursor, int, map[string]string) {
	q := newQuery(r, "limit", "cursor")
	limit := q.limit(eventPageDefault, eventPageMax)
	var c *kafkalog.TrailCursor
	if parts, ok := q.cursor(cursorEvents); ok {
		var org, msg int64
		var err error
		if len(parts) == 2 {
			org, err = strconv.ParseInt(parts[0], 10, 64)
			if err == nil {
				msg, err = strconv.ParseInt(parts[1], 10, 64)
			}
		}
		if len(parts) != 2 || err != nil || org < 0 || msg < 0 {
			q.badCursor()
		} else {
			c = &kafkalog.TrailCursor{Org: org, Msg: msg}
		}
	}
	return c, limit, q.result()
}

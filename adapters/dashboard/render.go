package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"ziett.co/campaigns/projections/campaigns"
)

// pageData is what every template gets: the page's title, the signed-in
// context (nil on the sign-in page) and the page's own data.
type pageData struct {
	Title string
	Nav   string
	C     *reqCtx
	Poll  int
	Data  any
}

// parseTemplates parses each page with the layout and the shared
// partials, so each page defines its own "content".
func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" || base == "partials" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes a whole page, or only the named template of it when block
// is given (the live fragments). It renders into a buffer first, so a
// template error is a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, d *pageData, block ...string) {
	if d.C != nil && d.Poll == 0 {
		d.Poll = s.cfg.PollSeconds
	}
	t := s.pages[page]
	name := "layout"
	if len(block) > 0 {
		name = block[0]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, d); err != nil {
		s.cfg.Log.Error("dashboard render", "page", page, "block", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck
}

type errorData struct{ Heading, Message string }

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, heading, msg string) {
	s.render(w, r, status, "error", &pageData{Title: heading, C: c, Data: errorData{heading, msg}})
}

func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, c *reqCtx, what string, err error) {
	s.cfg.Log.Error("dashboard "+what, "err", err)
	s.renderError(w, r, c, http.StatusServiceUnavailable, "Temporarily unavailable",
		"This page could not be loaded. Please try again in a moment.")
}

var funcs = template.FuncMap{
	"money":      money,
	"pct":        pct,
	"when":       when,
	"whenp":      func(t *time.Time) string { return whenPtr(t) },
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"badge":      badge,
	"deref":      func(s *string) string { return derefStr(s) },
	"derefInt":   func(n *int) int { return derefInt(n) },
	"add":        func(a, b int) int { return a + b },
	"frac":       frac,
	"terminal":   terminal,
	"join":       strings.Join,
	"short":      func(s fmt.Stringer) string { return s.String()[:8] },
	"deliveryOf": deliveryRate,
	"ucs2Mark":   ucs2Mark,
	"mul100":     func(f float64) float64 { return f * 100 },
}

// money formats integer minor units (two decimals, as every price here is
// kept) with thousands separators: 1234567 AOA is "12,345.67 AOA".
func money(minor int64, currency string) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	units := strconv.FormatInt(minor/100, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, ch := range units {
		if i > 0 && (len(units)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	fmt.Fprintf(&b, ".%02d %s", minor%100, currency)
	return b.String()
}

func pct(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 0, 64) + "%"
}

func frac(a, b int) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006 15:04:05 UTC")
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return when(*t)
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

// badge is the CSS class of a status.
func badge(status string) string {
	switch status {
	case campaigns.StatusCompleted, campaigns.MessageSent, campaigns.MessageDelivered, "ENABLED":
		return "badge ok"
	case campaigns.StatusFailed, campaigns.MessageInvalid, campaigns.MessageUndelivered, campaigns.MessageExpired,
		campaigns.MessageRejected, "DISABLED":
		return "badge bad"
	case campaigns.MessageDuplicate, campaigns.MessageCancelled:
		return "badge muted"
	default:
		return "badge busy"
	}
}

func terminal(status string) bool {
	return status == campaigns.StatusCompleted || status == campaigns.StatusFailed
}

// rate is a share shown with what it is a share of.
type rate struct {
	Value float64
	Known bool
	Label string
}

// deliveryRate is delivered over sent, as the API reports it, once a
// delivery receipt has decided any message; before that it is unknown.
func deliveryRate(v campaigns.View) rate {
	m := v.Messages
	decided := m.Delivered + m.Undelivered + m.Expired + m.Rejected
	if decided == 0 {
		return rate{Label: "no delivery receipts yet"}
	}
	return rate{Value: m.DeliveryRate, Known: true, Label: fmt.Sprintf("%d delivered of %d sent", m.Delivered, m.Sent)}
}

// ucs2Mark is the content with every character that forces UCS-2 marked.
func ucs2Mark(content string, chars []string) template.HTML {
	if len(chars) == 0 {
		return template.HTML(template.HTMLEscapeString(content))
	}
	set := map[string]bool{}
	for _, c := range chars {
		set[c] = true
	}
	var b strings.Builder
	for _, r := range content {
		ch := string(r)
		esc := template.HTMLEscapeString(ch)
		if set[ch] {
			b.WriteString(`<mark title="not in the GSM 03.38 alphabet">` + esc + `</mark>`)
		} else {
			b.WriteString(esc)
		}
	}
	return template.HTML(b.String()) //nolint:gosec // every piece is escaped above
}

package dashboard

import (
	"encoding/csv"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/sms"
)

// defaultCountry is preselected in the form: the home market.
const defaultCountry = "AO"

type country struct{ Code, Name string }

var countries = sync.OnceValue(func() []country {
	out := []country{}
	for _, code := range campaign.CountryCodes() {
		name := code
		if r, err := language.ParseRegion(code); err == nil {
			if n := display.English.Regions().Name(r); n != "" {
				name = n
			}
		}
		out = append(out, country{Code: code, Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
})

// newForm is the new-campaign form as filled in, with the API's answers.
type newForm struct {
	Name, RemitterID, Country, Content, Recipients string
	IdempotencyKey                                 string
	Senders                                        []postgres.Sender
	Countries                                      []country
	Errors                                         map[string]string
	RecipientErrors                                []string
	Alert                                          string
	Est                                            estimate
}

// estimate is the live counter and the price before sending.
type estimate struct {
	Chars     int
	Encoding  string
	Units     int
	Segments  int
	UCS2Chars []string
	// Marked is the content with the characters that force UCS-2 marked.
	Marked     template.HTML
	Recipients int
	Cost       int64
	Currency   string
	Available  int64
	HasBalance bool
	TooLow     bool
}

func (s *Server) approvedSenders(r *http.Request, c *reqCtx) ([]postgres.Sender, error) {
	all, err := s.cfg.Directory.ListSenders(r.Context(), c.P.OrgID)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, snd := range all {
		if snd.Status == "APPROVED" {
			out = append(out, snd)
		}
	}
	return out, nil
}

func (s *Server) refuseSend(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.renderError(w, r, c, http.StatusForbidden, "Not allowed",
		"This API key cannot create campaigns: it lacks the apikey:campaign:send scope.")
}

func (s *Server) newCampaignForm(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if !c.CanSend() {
		s.refuseSend(w, r, c)
		return
	}
	f := newForm{Country: defaultCountry, IdempotencyKey: randomToken()}
	s.renderForm(w, r, c, http.StatusOK, &f)
}

func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, f *newForm) {
	var err error
	if f.Senders, err = s.approvedSenders(r, c); err != nil {
		s.unavailable(w, r, c, "list senders", err)
		return
	}
	if f.RemitterID == "" && len(f.Senders) > 0 {
		f.RemitterID = f.Senders[0].RemitterID.String()
	}
	f.Countries = countries()
	f.Est = s.estimateOf(r, c, f.Content, f.Country, recipientsOf(f.Recipients))
	s.render(w, r, status, "new", &pageData{Title: "New campaign", Nav: "new", C: c, Data: f})
}

// readForm reads the form; recipients come from the uploaded file when
// one was chosen, else from the text area.
func readForm(r *http.Request) (newForm, []string) {
	f := newForm{
		Name: r.PostFormValue("name"), RemitterID: r.PostFormValue("remitter_id"),
		Country: r.PostFormValue("country_alpha2"), Content: r.PostFormValue("content"),
		Recipients: r.PostFormValue("recipients"), IdempotencyKey: r.PostFormValue("idempotency_key"),
	}
	if file, hdr, err := r.FormFile("recipients_file"); err == nil {
		defer file.Close()
		if hdr.Size > 0 {
			b, _ := io.ReadAll(io.LimitReader(file, maxFormBytes))
			nums := parseRecipientList(string(b))
			f.Recipients = strings.Join(nums, "\n")
			return f, nums
		}
	}
	return f, recipientsOf(f.Recipients)
}

func recipientsOf(text string) []string { return parseRecipientList(text) }

// parseRecipientList reads pasted or uploaded numbers: one a line, or a
// CSV (comma, semicolon or tab separated) whose cell holding a number is
// taken from each row. A header row and empty lines are skipped. Numbers
// are kept as written: validating and normalizing them is the API's job.
func parseRecipientList(text string) []string {
	text = strings.TrimPrefix(text, "\ufeff")
	sep := ','
	if first, _, _ := strings.Cut(text, "\n"); !strings.Contains(first, ",") {
		switch {
		case strings.Contains(first, ";"):
			sep = ';'
		case strings.Contains(first, "\t"):
			sep = '\t'
		}
	}
	cr := csv.NewReader(strings.NewReader(text))
	cr.Comma, cr.FieldsPerRecord, cr.LazyQuotes, cr.TrimLeadingSpace = sep, -1, true, true
	var out []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			continue
		}
		cell := ""
		for _, f := range rec {
			if f = strings.TrimSpace(f); digits(f) >= 5 {
				cell = f
				break
			}
		}
		if cell == "" && len(out) > 0 || cell == "" && !header(rec) {
			// A row without a number is kept so the API names it, unless
			// it is the header row.
			for _, f := range rec {
				if f = strings.TrimSpace(f); f != "" {
					cell = f
					break
				}
			}
		}
		if cell != "" {
			out = append(out, cell)
		}
	}
	return out
}

// header reports whether a first row names its columns: no digits at all.
func header(rec []string) bool {
	for _, f := range rec {
		if digits(f) > 0 {
			return false
		}
	}
	return true
}

func digits(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// estimateOf counts the content as the processor will (domain/sms) and
// prices it as the API's funds check does (accept.Estimate).
func (s *Server) estimateOf(r *http.Request, c *reqCtx, content, country string, recipients []string) estimate {
	info := sms.Analyze(content)
	e := estimate{
		Chars: utf8.RuneCountInString(content), Encoding: string(info.Encoding), Units: info.Units,
		Segments: info.Segments, UCS2Chars: info.UCS2Chars, Recipients: len(recipients), Currency: pricing.Currency,
	}
	if content == "" {
		e.Segments = 0
	}
	if len(info.UCS2Chars) > 0 {
		e.Marked = ucs2Mark(content, info.UCS2Chars)
	}
	e.Cost = accept.Estimate(campaign.Request{Content: content, CountryAlpha2: country, Recipients: recipients}, s.cfg.Prices)
	if content == "" {
		e.Cost = 0
	}
	if b, err := s.cfg.Balances.Get(r.Context(), c.P.OrgID, 0); err == nil {
		e.Available, e.HasBalance, e.Currency = b.Available, true, b.Currency
		e.TooLow = e.Cost > b.Available
	}
	return e
}

// estimate answers the form's live counter.
func (s *Server) estimate(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f, nums := readForm(r)
	f.Est = s.estimateOf(r, c, f.Content, f.Country, nums)
	s.render(w, r, http.StatusOK, "new", &pageData{C: c, Data: &f}, "estimate")
}

// createCampaign submits the form through the API's command path and
// shows the API's own refusals beside the fields.
func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if !c.CanSend() {
		s.refuseSend(w, r, c)
		return
	}
	f, nums := readForm(r)
	body, err := json.Marshal(map[string]any{
		"name": f.Name, "remitter_id": f.RemitterID, "channel_type": "SMS",
		"country_alpha2": f.Country, "content": f.Content, "recipients": nums,
	})
	if err != nil {
		s.unavailable(w, r, c, "encode campaign", err)
		return
	}
	if f.IdempotencyKey == "" {
		f.IdempotencyKey = randomToken()
	}
	res, ref := s.cfg.Commands.SubmitBatch(r.Context(), c.P, randomToken(), body, f.IdempotencyKey)
	if ref != nil {
		s.refusedForm(w, r, c, &f, ref)
		return
	}
	http.Redirect(w, r, "/campaigns/"+res.CampaignID.String()+"?new=1", http.StatusSeeOther)
}

// formFields are the fields a refusal can name, as the form shows them.
var formFields = map[string]bool{"name": true, "remitter_id": true, "country_alpha2": true, "content": true, "recipients": true}

func (s *Server) refusedForm(w http.ResponseWriter, r *http.Request, c *reqCtx, f *newForm, ref *problem.Error) {
	f.Errors = map[string]string{}
	keys := make([]string, 0, len(ref.Fields))
	for k := range ref.Fields {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fieldOrder(keys[i]) < fieldOrder(keys[j]) })
	var other []string
	for _, k := range keys {
		msg := ref.Fields[k]
		switch {
		case formFields[k]:
			f.Errors[k] = msg
		case strings.HasPrefix(k, "recipients["):
			f.RecipientErrors = append(f.RecipientErrors, recipientError(k, msg))
		default:
			other = append(other, k+": "+msg)
		}
	}
	if len(f.RecipientErrors) > 0 && f.Errors["recipients"] == "" {
		f.Errors["recipients"] = "Some numbers are not valid."
	}
	f.Alert = ref.Message
	if len(other) > 0 {
		f.Alert += " " + strings.Join(other, "; ")
	}
	if ref.Code == problem.CodeIdempotencyKeyReused {
		// The form was changed after an attempt that was accepted or is
		// still running: a new attempt is a new campaign.
		f.IdempotencyKey = randomToken()
	}
	status := httpapi.Status(ref)
	if status < 400 {
		status = http.StatusUnprocessableEntity
	}
	s.renderForm(w, r, c, status, f)
}

// fieldOrder sorts recipients[n] by n.
func fieldOrder(k string) string {
	if i := strings.IndexByte(k, '['); i >= 0 {
		n, _ := strconv.Atoi(strings.TrimSuffix(k[i+1:], "]"))
		return k[:i] + "[" + strconv.Itoa(100000+n)
	}
	return k
}

func recipientError(k, msg string) string {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(k, "recipients["), "]"))
	if err != nil {
		return k + ": " + msg
	}
	return "Number " + strconv.Itoa(n+1) + ": " + msg
}

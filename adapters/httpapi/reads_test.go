package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi/contract"
	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/cmd/service/servicetest"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/events"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

// page is the body of a list endpoint.
type page struct {
	Data       []map[string]any `json:"data"`
	HasMore    bool             `json:"has_more"`
	NextCursor *string          `json:"next_cursor"`
}

func getPage(t *testing.T, e *servicetest.Env, key, path string, params url.Values) page {
	t.Helper()
	if len(params) > 0 {
		path += "?" + params.Encode()
	}
	r := e.Do(http.MethodGet, path, key, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var p page
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.Body)
	}
	return p
}

// walk follows next_cursor until has_more is false, calling between (when
// set) before each page after the first.
func walk(t *testing.T, e *servicetest.Env, key, path string, params url.Values, between ...func()) []map[string]any {
	t.Helper()
	var all []map[string]any
	for range 10_000 {
		p := getPage(t, e, key, path, params)
		all = append(all, p.Data...)
		if !p.HasMore {
			return all
		}
		for _, f := range between {
			f()
		}
		if p.NextCursor == nil {
			t.Fatalf("GET %s: has_more without next_cursor", path)
		}
		params = cloneValues(params)
		params.Set("cursor", *p.NextCursor)
	}
	t.Fatalf("GET %s: the walk does not end", path)
	return nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// accept appends a CampaignAccepted straight to the log, as the command
// endpoint would, with a chosen time: many campaigns, quickly, at known
// instants, without the endpoint's rate limit. Its recipients are not
// phone numbers, so the processor fails it without sending anything.
func accept(t *testing.T, e *servicetest.Env, name string, at time.Time) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	env, err := events.New(uuid.Must(uuid.NewV7()), e.Demo.OrgID, id, events.CampaignAcceptedV1{
		Name: name, Content: "Hello", ChannelType: "SMS", CountryAlpha2: "AO", RemitterID: e.Demo.RemitterID,
		SenderName: "ZIETT", Recipients: []string{"not a number", "neither"}, Currency: "AOA",
	}, at, "", uuid.Nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Stack.Kafka.ProduceSync(context.Background(), kafkalog.Encode(kafkalog.OrgEvents, e.Demo.OrgID, env)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitRows(t *testing.T, e *servicetest.Env, sql string, want int, args ...any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var n int
	for time.Now().Before(deadline) {
		if err := e.Stack.DB.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %d rows, want %d", sql, n, want)
}

// The campaign list walks newest first through pages without a gap or a
// repeat while new campaigns keep arriving, and filters by status, time
// and name.
func TestCampaignList(t *testing.T) {
	e := servicetest.Start(t)
	// Every response must be one the OpenAPI document describes.
	e.HTTP.Transport = contract.Transport{T: t, Spec: contract.Load(t)}
	const n = 150
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	initial := map[string]bool{}
	for i := range n {
		// Three campaigns share each instant: the id breaks the tie.
		initial[accept(t, e, fmt.Sprintf("Promo Luanda %03d", i), base.Add(time.Duration(i/3)*time.Second)).String()] = true
	}
	percent := accept(t, e, "100% off_weekend", base.Add(-time.Minute)).String()
	waitRows(t, e, `SELECT count(*) FROM campaigns WHERE org_id = $1`, n+1, e.Demo.OrgID)

	// Before every page a new campaign arrives and is in the read model.
	arrivals := 0
	arrive := func() {
		arrivals++
		accept(t, e, fmt.Sprintf("Arrival %d", arrivals), time.Now())
		waitRows(t, e, `SELECT count(*) FROM campaigns WHERE org_id = $1`, n+1+arrivals, e.Demo.OrgID)
	}
	items := walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"limit": {"7"}}, arrive)
	if arrivals < n/7 {
		t.Fatalf("only %d campaigns arrived during the walk", arrivals)
	}

	seen := map[string]int{}
	var prevAt time.Time
	var prevID string
	for i, it := range items {
		id := it["campaign_id"].(string)
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("campaign %s listed twice", id)
		}
		at, err := time.Parse(time.RFC3339Nano, it["created_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && (at.After(prevAt) || at.Equal(prevAt) && id >= prevID) {
			t.Fatalf("item %d (%s, %s) is not older than the one before (%s, %s)", i, at, id, prevAt, prevID)
		}
		prevAt, prevID = at, id
		for _, k := range []string{"status", "recipients", "messages", "cost", "progress", "providers"} {
			if _, ok := it[k]; !ok {
				t.Fatalf("list item lacks %q: %v", k, it)
			}
		}
	}
	for id := range initial {
		if seen[id] != 1 {
			t.Fatalf("campaign %s was in the list before the walk began but was listed %d times", id, seen[id])
		}
	}

	t.Run("search by name", func(t *testing.T) {
		got := walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"q": {"luanda 00"}})
		if len(got) != 10 {
			t.Fatalf("q=luanda 00 found %d campaigns, want 10", len(got))
		}
		got = walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"q": {"%"}})
		if len(got) != 1 || got[0]["campaign_id"] != percent {
			t.Fatalf("q=%% matched %d campaigns; %% must match literally", len(got))
		}
		got = walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"q": {"f_w"}})
		if len(got) != 1 {
			t.Fatalf("q=f_w matched %d campaigns; _ must match literally", len(got))
		}
	})
	t.Run("creation time range", func(t *testing.T) {
		got := walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"limit": {"4"},
			"created_from": {base.Add(10 * time.Second).Format(time.RFC3339)},
			"created_to":   {base.Add(20 * time.Second).Format(time.RFC3339)}})
		if len(got) != 30 {
			t.Fatalf("[base+10s, base+20s) holds %d campaigns, want 30", len(got))
		}
	})
	t.Run("status", func(t *testing.T) {
		waitRows(t, e, `SELECT count(*) FROM campaigns WHERE org_id = $1 AND status = 'FAILED' AND name LIKE 'Promo%'`, n, e.Demo.OrgID)
		got := walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"limit": {"100"}, "status": {"FAILED"}, "q": {"promo"}})
		if len(got) != n {
			t.Fatalf("status=FAILED found %d campaigns, want %d", len(got), n)
		}
		got = walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"status": {"processing,SENDING", "COMPLETED"}, "q": {"promo"}})
		if len(got) != 0 {
			t.Fatalf("status=PROCESSING,SENDING,COMPLETED found %d failed campaigns", len(got))
		}
		for _, it := range walk(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"status": {"FAILED"}, "q": {"Promo Luanda 01"}}) {
			if f, _ := it["failure"].(map[string]any); f == nil || f["code"] == "" {
				t.Fatalf("failed campaign without failure reason: %v", it)
			}
		}
	})
	t.Run("bad parameters", func(t *testing.T) {
		for q, field := range map[string]string{
			"limit=0": "limit", "limit=101": "limit", "limit=x": "limit", "status=DONE": "status",
			"cursor=bm9wZQ": "cursor", "created_from=yesterday": "created_from", "colour=red": "colour",
			"created_from=2026-01-02T00:00:00Z&created_to=2026-01-01T00:00:00Z": "created_to",
			"q=" + strings.Repeat("a", 201):                                     "q",
		} {
			r := e.Do(http.MethodGet, "/c/v1/campaigns?"+q, e.Demo.APIKey, nil)
			b := r.JSON(t)
			fields, _ := b["fields"].(map[string]any)
			if r.Status != http.StatusUnprocessableEntity || b["code"] != "VALIDATION_ERROR" || fields[field] == nil {
				t.Errorf("?%s: %d %s, want 422 naming %s", q, r.Status, r.Body, field)
			}
		}
		// A cursor of one list is not accepted by another.
		p := getPage(t, e, e.Demo.APIKey, "/c/v1/campaigns", url.Values{"limit": {"1"}})
		r := e.Do(http.MethodGet, "/c/v1/campaigns/"+prevID+"/messages?cursor="+*p.NextCursor, e.Demo.APIKey, nil)
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("campaign cursor on the message list: %d %s", r.Status, r.Body)
		}
	})
}

// Each submitted recipient is listed as submitted and as E.164 with what
// became of it, invalid and duplicate ones included; the audit trail lists
// exactly the campaign's events on the topics; no read shows a campaign to
// another organisation.
func TestMessagesAuditAndIsolation(t *testing.T) {
	e := servicetest.Start(t)
	// Every response must be one the OpenAPI document describes.
	e.HTTP.Transport = contract.Transport{T: t, Spec: contract.Load(t)}
	req := e.SeedRequest()
	req["recipients"] = []string{"+244990000001", "+244 990 000 002", "990000003", "+244990000001", "+999 1234567"}
	id := e.Submit(req)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := e.WaitStatus(id, 30*time.Second, "COMPLETED", "FAILED")
		if c["status"] != "COMPLETED" {
			t.Fatalf("campaign ended %v: %v", c["status"], c["failure"])
		}
		m := c["messages"].(map[string]any)
		if m["sent"].(float64)+m["failed"].(float64) == m["total"].(float64) {
			if c["progress"] != 1.0 || c["providers"] == nil {
				t.Fatalf("completed campaign: progress %v, providers %v", c["progress"], c["providers"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outcomes not projected: %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := "/c/v1/campaigns/" + id.String()

	t.Run("messages", func(t *testing.T) {
		ms := walk(t, e, e.Demo.APIKey, base+"/messages", url.Values{"limit": {"2"}})
		if len(ms) != 5 {
			t.Fatalf("%d recipients listed, want 5: %v", len(ms), ms)
		}
		wantStatus := []string{"SENT", "SENT", "SENT", "DUPLICATE", "INVALID"}
		wantE164 := []any{"+244990000001", "+244990000002", "+244990000003", "+244990000001", nil}
		for i, m := range ms {
			if m["index"] != float64(i) || m["recipient"] != req["recipients"].([]string)[i] ||
				m["status"] != wantStatus[i] || m["e164"] != wantE164[i] {
				t.Fatalf("recipient %d = %v, want status %s e164 %v", i, m, wantStatus[i], wantE164[i])
			}
			switch m["status"] {
			case "SENT":
				if m["message_id"] == nil || m["provider"] == nil || m["segments"] != 1.0 || m["cost"].(float64) <= 0 ||
					m["sent_at"] == nil || m["error"] != nil || m["currency"] == "" {
					t.Fatalf("sent message %d = %v", i, m)
				}
			default:
				errObj, _ := m["error"].(map[string]any)
				if m["message_id"] != nil || m["provider"] != nil || errObj == nil || errObj["code"] == "" || m["cost"] != 0.0 {
					t.Fatalf("rejected recipient %d = %v", i, m)
				}
			}
		}
		if !strings.Contains(ms[3]["error"].(map[string]any)["message"].(string), "0") {
			t.Errorf("the duplicate does not name the recipient it repeats: %v", ms[3]["error"])
		}
		rejected := walk(t, e, e.Demo.APIKey, base+"/messages", url.Values{"status": {"INVALID,DUPLICATE"}})
		if len(rejected) != 2 {
			t.Fatalf("status=INVALID,DUPLICATE listed %d", len(rejected))
		}
	})

	t.Run("audit trail", func(t *testing.T) {
		trail := walk(t, e, e.Demo.APIKey, base+"/events", url.Values{"limit": {"3"}})
		onTopic := map[string][]string{}
		var want int
		for _, topic := range []string{kafkalog.OrgEvents, kafkalog.MessageEvents} {
			for _, ev := range e.Events(topic, func(ev events.Envelope) bool { return ev.CampaignID == id }) {
				onTopic[topic] = append(onTopic[topic], ev.ID.String())
				want++
			}
		}
		if len(trail) != want {
			t.Fatalf("trail has %d events, the topics %d", len(trail), want)
		}
		got := map[string][]string{}
		for _, ev := range trail {
			got[ev["topic"].(string)] = append(got[ev["topic"].(string)], ev["event_id"].(string))
			if ev["type"] == "" || ev["time"] == nil || ev["payload"] == nil {
				t.Fatalf("trail event lacks type, time or payload: %v", ev)
			}
			if ev["type"] != "CampaignAccepted" && ev["causation_id"] == nil {
				t.Errorf("%s has no causation", ev["type"])
			}
		}
		for topic, ids := range onTopic {
			if !slices.Equal(got[topic], ids) {
				t.Fatalf("trail of %s = %v, topic order %v", topic, got[topic], ids)
			}
		}
		if trail[0]["type"] != "CampaignAccepted" || trail[len(trail)-1]["type"] != "CampaignCompleted" {
			t.Fatalf("trail runs from %v to %v", trail[0]["type"], trail[len(trail)-1]["type"])
		}
		var accepted map[string]any
		if err := json.Unmarshal(mustJSON(t, trail[0]["payload"]), &accepted); err != nil || accepted["name"] != req["name"] {
			t.Fatalf("CampaignAccepted payload = %v", trail[0]["payload"])
		}
		// The last page's cursor picks up what is appended later: nothing yet.
		p := getPage(t, e, e.Demo.APIKey, base+"/events", url.Values{"limit": {"1000"}})
		if p.HasMore || p.NextCursor == nil {
			t.Fatalf("single page: has_more %v, next_cursor %v", p.HasMore, p.NextCursor)
		}
		if tail := getPage(t, e, e.Demo.APIKey, base+"/events", url.Values{"cursor": {*p.NextCursor}}); len(tail.Data) != 0 {
			t.Fatalf("after the end: %v", tail.Data)
		}
	})

	t.Run("isolation", func(t *testing.T) {
		other, err := e.Stack.Admin.CreateDemo(t.Context(), 100, []string{apikey.ScopeCampaignRead})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{base, base + "/messages", base + "/events"} {
			r := e.Do(http.MethodGet, path, other.APIKey, nil)
			if b := r.JSON(t); r.Status != http.StatusNotFound || b["code"] != "NOT_FOUND" {
				t.Errorf("GET %s with another organisation's key: %d %s, want 404", path, r.Status, r.Body)
			}
			for _, unknown := range []string{uuid.Must(uuid.NewV7()).String(), "not-a-uuid"} {
				p := strings.Replace(path, id.String(), unknown, 1)
				if r := e.Do(http.MethodGet, p, e.Demo.APIKey, nil); r.Status != http.StatusNotFound {
					t.Errorf("GET %s: %d %s, want 404", p, r.Status, r.Body)
				}
			}
		}
		if l := walk(t, e, other.APIKey, "/c/v1/campaigns", nil); len(l) != 0 {
			t.Errorf("another organisation lists %d campaigns", len(l))
		}
		sendOnly, err := e.Stack.Admin.CreateDemo(t.Context(), 100, []string{apikey.ScopeCampaignSend})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/c/v1/campaigns", base, base + "/messages", base + "/events"} {
			if r := e.Do(http.MethodGet, path, sendOnly.APIKey, nil); r.Status != http.StatusForbidden {
				t.Errorf("GET %s without the read scope: %d", path, r.Status)
			}
			if r := e.Do(http.MethodGet, path, "", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("GET %s without a key: %d", path, r.Status)
			}
			if r := e.Do(http.MethodDelete, path, e.Demo.APIKey, nil); r.Status != http.StatusMethodNotAllowed || r.JSON(t)["code"] != "METHOD_NOT_ALLOWED" {
				t.Errorf("DELETE %s: %d %s", path, r.Status, r.Body)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

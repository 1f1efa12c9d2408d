package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// received is one request a receiver got.
type received struct {
	At        time.Time
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	Signature string
	Header    http.Header
	Body      []byte
	Event     event
	Status    int // what the receiver answered
}

// event is the body of a webhook as a receiver reads it.
type event struct {
	ID        uuid.UUID `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Sequence  int       `json:"sequence"`
	Data      struct {
		CampaignID uuid.UUID `json:"campaign_id"`
		Status     string    `json:"status"`
		Failure    *struct {
			Code string `json:"code"`
		} `json:"failure"`
	} `json:"data"`
}

// receiver is a customer's endpoint on a loopback port that can be killed
// and brought back on the same address. Every request is recorded; verify
// checks each with the Standard Webhooks library, not with our code.
type receiver struct {
	t    *testing.T
	addr string
	path string

	mu      sync.Mutex
	got     []received
	respond func(r received, seen int) (int, http.Header) // seen: earlier requests with this webhook-id
	delay   time.Duration
	srv     *http.Server
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, path: "/hooks/ziett"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = ln.Addr().String()
	rc.serve(ln)
	t.Cleanup(rc.kill)
	return rc
}

func (rc *receiver) URL() string { return "http://" + rc.addr + rc.path }

func (rc *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	rc.mu.Lock()
	rc.srv = srv
	rc.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck
}

// kill drops the receiver at once, connections included.
func (rc *receiver) kill() {
	rc.mu.Lock()
	srv := rc.srv
	rc.srv = nil
	rc.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart listens again on the same address.
func (rc *receiver) restart() {
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", rc.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		rc.t.Fatalf("restart receiver on %s: %v", rc.addr, err)
	}
	rc.serve(ln)
}

func (rc *receiver) setRespond(f func(r received, seen int) (int, http.Header)) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	got := received{At: time.Now(), ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Header: r.Header.Clone(), Body: body, Status: http.StatusOK}
	if r.URL.Path != rc.path || r.Method != http.MethodPost {
		got.Status = http.StatusNotFound
	}
	if err := json.Unmarshal(body, &got.Event); err != nil && got.Status == http.StatusOK {
		got.Status = http.StatusBadRequest
	}
	rc.mu.Lock()
	seen := 0
	for _, g := range rc.got {
		if g.ID == got.ID {
			seen++
		}
	}
	var hdr http.Header
	if rc.respond != nil && got.Status == http.StatusOK {
		got.Status, hdr = rc.respond(got, seen)
	}
	delay := rc.delay
	rc.got = append(rc.got, got)
	rc.mu.Unlock()
	time.Sleep(delay)
	for k, vs := range hdr {
		w.Header()[k] = vs
	}
	w.WriteHeader(got.Status)
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor polls until cond holds over the requests received.
func (rc *receiver) waitFor(timeout time.Duration, what string, cond func([]received) bool) []received {
	rc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := rc.all()
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("receiver: %s not within %s; got %d requests", what, timeout, len(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// verify checks a request with the Standard Webhooks library and each
// secret alone.
func verify(t *testing.T, r received, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(r.Body, r.Header); err != nil {
			t.Errorf("webhook %s (%s) does not verify with secret %s…: %v", r.ID, r.Event.Type, s[:12], err)
		}
	}
}

// verifyFails checks that a secret does not verify a request.
func verifyFails(t *testing.T, r received, secret string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("webhook %s verifies with a secret that should not sign it (err %v)", r.ID, err)
	}
}

// byCampaign keeps the successful requests of one campaign, one per
// webhook-id.
func byCampaign(got []received, campaign uuid.UUID) map[string]received {
	out := map[string]received{}
	for _, g := range got {
		if g.Event.Data.CampaignID == campaign && g.Status/100 == 2 {
			out[g.ID] = g
		}
	}
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s not within %s", what, timeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

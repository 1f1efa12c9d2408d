package webhooks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// keptBody is how much of a response the attempt log keeps for the
// customer to read.
const keptBody = 1024

// result is what one HTTP attempt came to.
type result struct {
	started    time.Time
	timestamp  int64 // the webhook-timestamp sent
	duration   time.Duration
	status     int // 0 when no response came
	err        string
	body       string
	retryAfter time.Duration
}

func (r result) ok() bool { return r.err == "" && r.status >= 200 && r.status < 300 }

// newClient is the HTTP client of deliveries: guarded dialer, no proxy
// (a proxy would dial the target on our behalf, past the guard), no
// redirects (a redirect is a failure: following it could lead anywhere),
// one overall timeout.
func newClient(g Guard, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.Dialer().DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// The response is the receiver's; never inflate it on our side.
		DisableCompression: true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// post makes one attempt: the stored body, signed for this attempt's
// timestamp with every current secret.
func (s *Sender) post(ctx context.Context, url, id string, secrets []string, body []byte) (r result) {
	r = result{started: time.Now()}
	r.timestamp = r.started.Unix()
	// A named result, so the deferred assignment reaches the caller.
	defer func() { r.duration = time.Since(r.started) }()
	sig, err := SignatureHeader(secrets, id, r.timestamp, body)
	if err != nil {
		r.err = err.Error()
		return r
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		r.err = err.Error()
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Ziett-Webhooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(r.timestamp, 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		r.err = describe(err)
		return r
	}
	defer resp.Body.Close()
	// Reading (a bounded amount of) the body lets the connection be
	// reused; what is past the bound is never read.
	b, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxResponseBytes))
	r.status = resp.StatusCode
	r.body = printable(b)
	switch {
	case err != nil:
		r.err = "reading the response: " + describe(err)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.err = "redirect to " + strconv.Quote(resp.Header.Get("Location")) + " not followed"
	case !r.ok():
		r.err = "receiver answered " + resp.Status
	}
	if !r.ok() {
		r.retryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r
}

// describe words a transport error for the attempt log.
func describe(err error) string {
	var be *BlockedError
	if errors.As(err, &be) {
		return be.Error()
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return "timed out: " + err.Error()
	}
	return err.Error()
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(365*24*3600))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// printable keeps the start of a response body as valid UTF-8 text.
func printable(b []byte) string {
	if len(b) > keptBody {
		b = b[:keptBody]
	}
	// Postgres text holds neither invalid UTF-8 nor NUL.
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "\uFFFD")
}

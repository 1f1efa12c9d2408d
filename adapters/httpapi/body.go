package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"ziett.co/campaigns/domain/problem"
)

// DefaultBodyReadTimeout bounds the time to receive a request's body,
// counted from the end of its headers (whose own bound is the server's
// ReadHeaderTimeout). The largest body, 1 MiB, then needs about 100 KiB/s:
// any client of this API has that, and a client that sends a byte a second
// holds its connection and goroutine for 10 s instead of as long as it
// likes.
const DefaultBodyReadTimeout = 10 * time.Second

// withBodyDeadline sets the connection's read deadline for the body of
// every request before any handler runs, so that no endpoint, and not the
// server discarding an unread body afterwards, waits longer for it. The
// server sets the deadline again for the next request's headers.
func withBodyDeadline(timeout time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			// Fails only on a connection that cannot have deadlines (a
			// test recorder), where there is nothing to bound.
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout)) //nolint:errcheck
		}
		h.ServeHTTP(w, r)
	})
}

// readBody reads r's body, of at most limit bytes (described as
// limitText in the refusal). On failure it says how to answer: 413 when the
// body is too large, 408 when it was not received in time, 400 otherwise.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, limitText string) ([]byte, *problem.Error) {
	tooBig := problem.New(problem.CodeBodyTooLarge, fmt.Sprintf("The request body exceeds %s.", limitText))
	if r.ContentLength > limit {
		return nil, tooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return body, nil
	case errors.As(err, &mbe):
		return nil, tooBig
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The connection cannot carry another request: its body is
		// still arriving.
		w.Header().Set("Connection", "close")
		return nil, problem.New(problem.CodeRequestTimeout,
			"The request body was not received in time; send it at once after the headers.")
	default:
		return nil, problem.New(problem.CodeMalformedJSON, "The request body could not be read.")
	}
}

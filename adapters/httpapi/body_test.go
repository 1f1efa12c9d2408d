package httpapi_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/cmd/service/servicetest"
)

// Clients that send a body a byte at a time, over real TCP connections,
// get 408 in the envelope once the body deadline has passed and lose
// their connections, on every endpoint that reads a body; meanwhile a
// client that sends its request at once is served.
func TestSlowBodiesAreCutOff(t *testing.T) {
	e := servicetest.Start(t, servicetest.WithComponents(service.API),
		func(c *service.Config) { c.BodyReadTimeout = time.Second })
	unlimit(t, e, e.Demo.KeyID)
	wh := whKey(t, e, e.Demo.OrgID)

	const perEndpoint = 7
	endpoints := []struct{ name, path, key string }{
		{"batch submission", batchPath, e.Demo.APIKey},
		{"single message", "/c/v1/messages", e.Demo.APIKey},
		{"webhook registration", "/c/v1/webhooks", wh},
	}
	type result struct {
		endpoint string
		status   int
		env      map[string]any
		closed   bool
		err      error
	}
	results := make(chan result, perEndpoint*len(endpoints))
	var wg sync.WaitGroup
	for _, ep := range endpoints {
		for range perEndpoint {
			wg.Go(func() {
				res := result{endpoint: ep.name}
				defer func() { results <- res }()
				conn, err := net.Dial("tcp", e.Stack.Addr)
				if err != nil {
					res.err = err
					return
				}
				defer conn.Close()
				// Without a deadline the server would wait 1000 s for this
				// body; the client gives up after 30 s so that a regression
				// fails instead of hanging.
				conn.SetReadDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
				if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: api.test\r\nX-API-KEY: %s\r\n"+
					"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", ep.path, ep.key); err != nil {
					res.err = err
					return
				}
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					tick := time.NewTicker(time.Second)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							if _, err := conn.Write([]byte(" ")); err != nil {
								return
							}
						}
					}
				}()
				br := bufio.NewReader(conn)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					res.err = err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				res.status = resp.StatusCode
				json.Unmarshal(body, &res.env) //nolint:errcheck
				// The server hangs up after answering: EOF, or a reset when
				// the client's next byte reached the closed socket first.
				_, err = br.ReadByte()
				res.closed = err == io.EOF || errors.Is(err, syscall.ECONNRESET)
			})
		}
	}

	// A client that sends its request at once is served during the attack.
	if r := e.Do(http.MethodGet, "/c/v1/campaigns", e.Demo.APIKey, nil); r.Status != http.StatusOK {
		t.Fatalf("a prompt client during the slow ones: %d %s", r.Status, r.Body)
	}

	wg.Wait()
	close(results)
	for res := range results {
		if res.err != nil {
			t.Errorf("%s: %v", res.endpoint, res.err)
			continue
		}
		if res.status != http.StatusRequestTimeout || res.env["code"] != "REQUEST_TIMEOUT" || res.env["status"] != float64(408) ||
			res.env["service"] != "core" || len(fmt.Sprint(res.env["trace_id"])) != 32 {
			t.Errorf("%s: %d %v, want 408 REQUEST_TIMEOUT in the envelope", res.endpoint, res.status, res.env)
		}
		if !res.closed {
			t.Errorf("%s: the connection stayed open after the 408", res.endpoint)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/domain/plan"
)

// A recipient's reply (a mobile-originated SMS, such as STOP) can be sent
// into a running `ziett dev` through its embedded SMSC:
//
//	ziett reply -from +244923000002 -text STOP
//
// The dev process listens on a Unix socket in its data directory (only its
// own user can reach it), and the SMSC delivers the reply over SMPP to the
// link of the provider that serves the number, as an operator would.

// replySocket is the socket's name in the data directory.
const replySocket = "smsc.sock"

// replyRequest is the socket's one request.
type replyRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
	Text string `json:"text"`
}

// serveReplies accepts replies for the embedded SMSC until ctx ends.
func serveReplies(ctx context.Context, dataDir string, s *smpp.SMSC, rules plan.Rules, links map[string]smsprovider.LinkConfig, log *slog.Logger) (func(), error) {
	path := filepath.Join(dataDir, replySocket)
	// The data directory's lock is held, so a socket left here is a
	// crashed process's.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("reply socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reply", func(w http.ResponseWriter, r *http.Request) {
		var req replyRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.From == "" || req.Text == "" {
			http.Error(w, "want {\"from\", \"text\", \"to\"}", http.StatusBadRequest)
			return
		}
		from := "+" + strings.TrimPrefix(req.From, "+")
		provider := rules.Routes.Provider(from)
		link, ok := links[provider]
		if !ok || link.SMPP == nil {
			http.Error(w, "no SMPP link for provider "+provider, http.StatusConflict)
			return
		}
		if err := s.SendMO(r.Context(), link.SMPP.SystemID, strings.TrimPrefix(from, "+"), req.To, req.Text); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		log.Info("embedded smsc delivered a reply", "from", from, "to", req.To, "provider", provider)
		fmt.Fprintf(w, "delivered to %s's link\n", provider)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return func() { srv.Close(); _ = os.Remove(path) }, nil
}

const replyUsage = `usage: ziett reply -from NUMBER -text TEXT [-to SENDER]

Sends a recipient's reply (a mobile-originated SMS) into the running
` + "`ziett dev`" + ` found through $ZIETT_DATA_DIR, through its embedded SMSC.
A reply of STOP, PARAR, SAIR or CANCELAR puts the number on the sender's
organisation's suppression list; START or ENTRAR takes it off.
`

// runReply is `ziett reply`.
func runReply(args []string) error {
	fs := flag.NewFlagSet("reply", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), replyUsage); fs.PrintDefaults() }
	from := fs.String("from", "", "the replying number, E.164")
	text := fs.String("text", "", "the reply")
	to := fs.String("to", "ZIETT", "the sender name or number replied to")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return cli.UsageErr("%v", err)
	}
	if *from == "" || *text == "" {
		return cli.UsageErr("reply needs -from and -text")
	}
	dataDir, err := filepath.Abs(env("ZIETT_DATA_DIR", "./var"))
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, replySocket)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	body, _ := json.Marshal(replyRequest{From: *from, To: *to, Text: *text})
	resp, err := c.Post("http://ziett-dev/reply", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("no running `ziett dev` with an embedded SMSC in %s: %w", dataDir, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reply refused: %s", strings.TrimSpace(string(out)))
	}
	fmt.Print(string(out))
	return nil
}

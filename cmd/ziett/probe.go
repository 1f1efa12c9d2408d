package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"ziett.co/campaigns/cmd/internal/cli"
)

const probeUsage = `usage: ziett probe [-url URL] [-timeout 3s]

Asks a running ziett process whether it is ready (GET /readyz) and exits 0
when it answers 200, 1 otherwise. The default URL is /readyz on the port of
$ZIETT_HTTP_ADDR (default 8080) on this host. It is the container
healthcheck of docker-compose.yml: the image has no shell or curl.
`

func runProbe(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "URL to GET (default: /readyz on this host at the port of $ZIETT_HTTP_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := cli.ParseFlags(fs, args, stdout, probeUsage); err != nil {
		return err
	}
	if *url == "" {
		*url = "http://" + probeHost(env("ZIETT_HTTP_ADDR", "127.0.0.1:8080")) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return cli.UsageErr("probe: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", *url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s: %s", *url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// probeHost turns a listen address into one to dial: an unspecified host
// (0.0.0.0, ::, empty) becomes the loopback address.
func probeHost(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"ziett.co/campaigns/adapters/embedded/pgcluster"
	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/cmd/internal/cli"
)

// runBenchKannel is `ziett-bench kannel` (`make bench-kannel`): Kannel's
// bearerbox and smsbox (Debian's kannel package) and Ziett send the same
// messages over SMPP into the same embedded SMSC, one after the other in
// one run on one machine, and the rates and their ratio are printed.
//
// Kannel takes each message as an HTTP sendsms request (how applications
// hand it messages), keeps its queues in memory and asks for no receipts;
// it is timed until the SMSC has received every message. Ziett takes the
// messages as 1000-recipient campaigns, records every step durably, asks
// for a receipt per message, and is timed until every campaign is
// COMPLETED and every receipt applied (figure (6) of `ziett-bench`).
func runBenchKannel(args []string) error {
	fs := flag.NewFlagSet("bench-kannel", flag.ContinueOnError)
	messages := fs.Int("messages", 100_000, "messages each side sends")
	conns := fs.Int("kannel-conns", 32, "concurrent HTTP sendsms connections into smsbox")
	window := fs.Int("window", 64, "outstanding submit_sm per bind, both sides")
	binds := fs.Int("binds", 2, "binds per Ziett provider link")
	logLevel := fs.String("log-level", "warn", "log level of the service while it is measured")
	if err := cli.ParseFlags(fs, args, os.Stdout, "usage: ziett-bench kannel [flags]\n\nKannel's bearerbox and smsbox (Debian's kannel) and Ziett send the same messages\nover SMPP into one embedded SMSC; prints both rates and their ratio (BENCHMARKS.md).\n"); err != nil {
		return err
	}
	if *messages < benchRecipients {
		return errors.New("bench-kannel: -messages must be at least 1000")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	bearerbox, err := exec.LookPath("bearerbox")
	if err != nil {
		bearerbox = "/usr/sbin/bearerbox"
	}
	smsbox, err := exec.LookPath("smsbox")
	if err != nil {
		smsbox = "/usr/sbin/smsbox"
	}
	for _, b := range []string{bearerbox, smsbox} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("bench-kannel: %s not found: install Debian's kannel package", filepath.Base(b))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	smsc, err := smpp.NewSMSC(smpp.SMSCConfig{ReceiptDelay: 0, Log: log})
	if err != nil {
		return err
	}
	if err := smsc.Start(); err != nil {
		return err
	}
	defer smsc.Close()
	fmt.Fprintf(os.Stderr, "bench-kannel: embedded SMSC on %s\n", smsc.Addr())

	kannelTook, err := kannelRun(ctx, smsc, bearerbox, smsbox, *messages, *conns, *window)
	if err != nil {
		return fmt.Errorf("bench-kannel: kannel: %w", err)
	}
	kannelRate := float64(*messages) / kannelTook.Seconds()
	fmt.Fprintf(os.Stderr, "bench-kannel: kannel sent %d messages in %s: %.0f messages/s\n", *messages, fmtDur(kannelTook), kannelRate)

	dir, cleanup, err := benchTempDir()
	if err != nil {
		return err
	}
	defer cleanup()
	b := &bench{opts: benchOpts{partitions: 8, timeout: 30 * time.Minute, smppMessages: *messages, smppBinds: *binds, smppWindow: *window},
		log: log, started: time.Now(), loadBefore: loadAvg()}
	b.pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Ephemeral: true})
	if err != nil {
		return fmt.Errorf("bench-kannel: postgres: %w", err)
	}
	defer b.pg.Stop() //nolint:errcheck
	if err := b.measureSMPPInto(ctx, smsc); err != nil {
		return err
	}
	r := b.report.smpp
	ziettRate := float64(r.messages) / r.total.Seconds()

	w := os.Stdout
	fmt.Fprintf(w, "\nKannel and Ziett over SMPP into the same embedded SMSC\n")
	fmt.Fprintf(w, "  date     %s\n", b.started.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  command  ziett-bench kannel %s\n", strings.Join(args, " "))
	fmt.Fprintf(w, "  machine  %s\n", benchMachine())
	fmt.Fprintf(w, "  load     %s before, %s after\n", b.loadBefore, loadAvg())
	fmt.Fprintf(w, "  Kannel   %s: %d messages by HTTP sendsms (%d connections) → smsbox → bearerbox → SMPP (1 transceiver, window %d), no receipts, queues in memory: %s = %.0f messages/s\n",
		kannelVersion(bearerbox), *messages, *conns, *window, fmtDur(kannelTook), kannelRate)
	fmt.Fprintf(w, "  Ziett    %d messages in %d campaigns by the API → durable pipeline → SMPP (%d links × %d binds, window %d), a receipt per message applied: %s = %.0f messages/s\n",
		r.messages, r.campaigns, r.providers, r.binds, r.window, fmtDur(r.total), ziettRate)
	fmt.Fprintf(w, "  ratio    Ziett / Kannel = %.2f\n", ziettRate/kannelRate)
	return nil
}

func kannelVersion(bearerbox string) string {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", "kannel").Output()
	if len(out) > 0 {
		return "Kannel " + string(out)
	}
	return filepath.Base(bearerbox)
}

func freeLocalPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// kannelRun starts bearerbox and smsbox against the SMSC, sends n messages
// through smsbox's sendsms interface and returns the time from the first
// request until the SMSC has received them all.
func kannelRun(ctx context.Context, smsc *smpp.SMSC, bearerbox, smsbox string, n, conns, window int) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "ziett-kannel-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	_, smscPort, _ := net.SplitHostPort(smsc.Addr())
	var ports [3]int
	for i := range ports {
		if ports[i], err = freeLocalPort(); err != nil {
			return 0, err
		}
	}
	conf := fmt.Sprintf(`group = core
admin-port = %[1]d
admin-password = adminpw
smsbox-port = %[2]d
box-allow-ip = 127.0.0.1
admin-allow-ip = 127.0.0.1
log-file = "%[5]s/bearerbox.log"
log-level = 2

group = smsc
smsc = smpp
smsc-id = bench
host = 127.0.0.1
port = %[3]s
transceiver-mode = true
smsc-username = kannel
smsc-password = kpw
system-type = ""
max-pending-submits = %[6]d
enquire-link-interval = 30
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = %[2]d
sendsms-port = %[4]d
sendsms-interface = 127.0.0.1
log-file = "%[5]s/smsbox.log"
log-level = 2

group = sendsms-user
username = bench
password = bpw
max-messages = 1
user-allow-ip = 127.0.0.1
`, ports[0], ports[1], smscPort, ports[2], dir, window)
	confPath := filepath.Join(dir, "kannel.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return 0, err
	}
	start := func(bin string) (func(), error) {
		out, err := os.Create(filepath.Join(dir, filepath.Base(bin)+".out"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, confPath)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return func() {
			cmd.Process.Signal(os.Interrupt) //nolint:errcheck
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }() //nolint:errcheck
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill() //nolint:errcheck
				<-done
			}
			out.Close()
		}, nil
	}
	stopBB, err := start(bearerbox)
	if err != nil {
		return 0, err
	}
	defer stopBB()
	before := smsc.Stats()
	deadline := time.Now().Add(30 * time.Second)
	for smsc.Stats().Binds == before.Binds {
		if time.Now().After(deadline) {
			return 0, errors.New("bearerbox did not bind to the SMSC")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopSB, err := start(smsbox)
	if err != nil {
		return 0, err
	}
	defer stopSB()

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	base := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/sendsms", ports[2])
	send := func(i int) error {
		q := url.Values{"username": {"bench"}, "password": {"bpw"}, "from": {"ZIETT"},
			"to": {fmt.Sprintf("2449%08d", 10_000_000+i)}, "text": {benchText}}
		resp, err := client.Get(base + "?" + q.Encode())
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("sendsms answered %d: %s", resp.StatusCode, body)
		}
		return nil
	}
	// smsbox takes a moment to connect to bearerbox and open its port.
	deadline = time.Now().Add(30 * time.Second)
	for {
		err := send(-1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("smsbox not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for smsc.Stats().Messages < before.Messages+1 {
		if time.Now().After(deadline) {
			return 0, errors.New("the warm-up message never reached the SMSC")
		}
		time.Sleep(10 * time.Millisecond)
	}
	base0 := smsc.Stats().Messages
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := send(i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	lastReport := time.Now()
	for smsc.Stats().Messages < base0+int64(n) {
		if e := firstErr.Load(); e != nil {
			return 0, *e
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if time.Since(t0) > 30*time.Minute {
			return 0, fmt.Errorf("only %d of %d messages reached the SMSC", smsc.Stats().Messages-base0, n)
		}
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(os.Stderr, "bench-kannel:   %5.1fs: %d requests, %d at the SMSC\n", time.Since(t0).Seconds(),
				min(next.Load(), int64(n)), smsc.Stats().Messages-base0)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(t0)
	wg.Wait()
	return took, nil
}

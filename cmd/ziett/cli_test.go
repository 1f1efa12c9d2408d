package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"ziett.co/campaigns/adapters/webhooks"
	"ziett.co/campaigns/cmd/internal/cli"
	"ziett.co/campaigns/cmd/service"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// ziettBinary builds the command once per test binary, as a user would
// (go build in the repository, so the build info carries the revision).
func ziettBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ziett-cli-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "ziett")
		out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + ": " + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type cliRun struct {
	code           int
	stdout, stderr string
}

// runZiett runs the built binary with a clean environment (plus env), so
// that no DATABASE_URL or running `ziett dev` of the machine is reached.
func runZiett(t *testing.T, env []string, args ...string) cliRun {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), ziettBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ZIETT_DATA_DIR=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cliRun{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// --version prints the module and the VCS revision it was built from.
func TestVersion(t *testing.T) {
	r := runZiett(t, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ziett ") || !strings.Contains(r.stdout, "ziett.co/campaigns") {
		t.Fatalf("--version: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r = runZiett(t, nil, "--version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("--version --json: exit %d, %q: %v", r.code, r.stdout, err)
	}
	if v.Module != "ziett.co/campaigns" || v.GoVersion == "" {
		t.Errorf("version info %+v", v)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("no git here (%v): revision not compared", err)
		return
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	// go build stamps the revision only where .git is a directory, not in
	// a linked worktree (whose .git is a file).
	if st, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !st.IsDir() {
		t.Logf("a linked git worktree: go build does not stamp its revision; not compared")
		return
	}
	if want := strings.TrimSpace(string(head)); v.Revision != want {
		t.Errorf("vcs_revision %q, git says %q", v.Revision, want)
	}
	if !strings.Contains(runZiett(t, nil, "--version").stdout, v.Revision) {
		t.Errorf("text --version does not show the revision %s", v.Revision)
	}
}

// Every command answers --help on stdout with exit code 0, and the top
// usage names every component serve can run and none of the programs
// that are not part of the binary that serves (the benchmark, the chaos
// harness).
func TestEveryCommandAnswersHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"-h"},
		{"dev", "--help"}, {"serve", "--help"}, {"admin", "--help"}, {"audit", "--help"}, {"audit", "campaign", "--help"},
		{"projections", "--help"}, {"projections", "verify", "--help"}, {"projections", "rebuild", "-h"}, {"projections", "parked", "--help"},
		{"probe", "--help"}, {"smsc", "--help"}, {"reply", "--help"},
	} {
		r := runZiett(t, nil, args...)
		if r.code != 0 || !strings.Contains(strings.ToLower(r.stdout+r.stderr), "usage") {
			t.Errorf("ziett %s: exit %d, stdout %q, stderr %.300q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	top := runZiett(t, nil, "--help").stdout
	for _, c := range service.All {
		if !regexp.MustCompile(`-components [a-z,]*\b` + c + `\b`).MatchString(top) {
			t.Errorf("ziett --help does not list component %s:\n%s", c, top)
		}
	}
	for _, c := range []string{"bench", "chaos"} {
		if regexp.MustCompile(`(?m)^\s+` + c).MatchString(top) {
			t.Errorf("ziett --help lists %s, which is a program of its own:\n%s", c, top)
		}
	}
}

// Exit codes: 2 for a wrong command line, 1 for a failure; under --json
// the error is one JSON object on stderr.
func TestErrorsAndExitCodes(t *testing.T) {
	type want struct {
		code int
		kind string // under --json; "" for text
		text string
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want want
	}{
		{"unknown command is a usage error", nil, []string{"frobnicate"}, want{2, "", "unknown command"}},
		{"the benchmark is not a command of ziett", nil, []string{"bench", "-quick"}, want{2, "", "unknown command"}},
		{"the chaos harness is not a command of ziett", nil, []string{"chaos"}, want{2, "", "unknown command"}},
		{"unknown projection under --json", nil, []string{"projections", "rebuild", "--json", "nosuch"}, want{2, "usage", "unknown projection"}},
		{"bad campaign id under --json", nil, []string{"audit", "campaign", "--json", "not-a-uuid"}, want{2, "usage", "not a campaign id"}},
		{"unknown admin command under --json", nil, []string{"admin", "--json", "frob", "nicate"}, want{2, "usage", "unknown command"}},
		{"unknown flag under --json", nil, []string{"projections", "verify", "--json", "--nope"}, want{2, "usage", "nope"}},
		{"unreachable database under --json fails", []string{"DATABASE_URL=postgres://u@127.0.0.1:1/x?connect_timeout=2", "KAFKA_BROKERS=127.0.0.1:1"},
			[]string{"admin", "--json", "org", "list"}, want{1, "failed", ""}},
		{"no running dev for audit fails", nil, []string{"audit", "campaign", "--json", "0b7e7b8e-5a6b-4c1d-9e2f-3a4b5c6d7e8f"}, want{1, "failed", "DATABASE_URL"}},
		{"webhook allow-list flag must be CIDRs", nil, []string{"serve", "-webhook-allow", "10.0.0.1"}, want{2, "", "not a CIDR"}},
		{"webhook allow-list env must not allow everything", []string{"ZIETT_WEBHOOK_ALLOW=10.0.0.0/8, 0.0.0.0/0"}, []string{"serve"}, want{2, "", "allows every address"}},
		{"webhook allow-list must not have host bits", []string{"ZIETT_WEBHOOK_ALLOW=10.1.2.3/8"}, []string{"serve"}, want{2, "", "10.0.0.0/8"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runZiett(t, c.env, c.args...)
			if r.code != c.want.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, c.want.code, r.stderr)
			}
			if c.want.kind == "" {
				if !strings.Contains(r.stderr, c.want.text) || strings.HasPrefix(strings.TrimSpace(r.stderr), "{") {
					t.Fatalf("stderr %q, want text with %q", r.stderr, c.want.text)
				}
				return
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			var e cli.Error
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
				t.Fatalf("stderr's last line is not JSON: %q", r.stderr)
			}
			if e.Error.Kind != c.want.kind || e.Error.ExitCode != c.want.code || !strings.Contains(e.Error.Message, c.want.text) {
				t.Fatalf("error %+v, want kind %s, exit %d, message with %q", e.Error, c.want.kind, c.want.code, c.want.text)
			}
		})
	}
}

// The allow-list `serve` reads lets webhook deliveries reach the listed
// private networks, over real TCP, and nothing else of the refused kinds.
func TestWebhookAllowListReachesTheGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func(list string) error {
		allow, err := parseAllowList(list)
		if err != nil {
			t.Fatal(err)
		}
		c, err := webhooks.Guard{Allow: allow}.Dialer().DialContext(t.Context(), "tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("10.0.0.0/8,127.0.0.0/8"); err != nil {
		t.Errorf("loopback allowed, dial refused: %v", err)
	}
	var blocked *webhooks.BlockedError
	if err := dial("10.0.0.0/8, fd00::/8"); !errors.As(err, &blocked) {
		t.Errorf("loopback not allowed, dial: %v", err)
	}
	if err := dial(""); !errors.As(err, &blocked) {
		t.Errorf("empty allow-list, dial: %v", err)
	}
	allow, err := parseAllowList("10.20.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	g := webhooks.Guard{Allow: allow}
	for addr, ok := range map[string]bool{"10.20.3.4": true, "10.21.0.1": false, "192.168.1.1": false, "169.254.169.254": false, "8.8.8.8": true} {
		if err := g.Check(netipMust(addr)); (err == nil) != ok {
			t.Errorf("allow-list 10.20.0.0/16: %s: %v", addr, err)
		}
	}
}

// probe exits 0 only on a 200 from /readyz.
func TestProbe(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	if r := runZiett(t, []string{"ZIETT_HTTP_ADDR=0.0.0.0:" + port}, "probe"); r.code != 0 {
		t.Errorf("probe of a ready server: exit %d %q", r.code, r.stderr)
	}
	ready.Store(false)
	if r := runZiett(t, nil, "probe", "-url", srv.URL+"/readyz"); r.code != 1 || !strings.Contains(r.stderr, "503") {
		t.Errorf("probe of a server not ready: exit %d %q", r.code, r.stderr)
	}
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"ziett.co/campaigns/cmd/internal/cli"
)

// ziettCommand builds the ziett command as a user would, with the race
// detector when this test has it, and runs it.
func ziettCommand(t *testing.T) func(args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ziett")
	args := []string{"build", "-o", bin}
	if raceBuild() {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "ziett.co/campaigns/cmd/ziett")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return func(args ...string) *exec.Cmd { return exec.Command(bin, args...) }
}

// raceBuild reports whether this test binary was built with -race.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// freeRange finds n consecutive free TCP ports and returns the first: the
// chaos run puts the API on it and each process's operations listener on
// the ones after it. They are released before use, so a race with another
// process is possible but unlikely.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := first.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{first}
		ok := true
		for i := 1; i < n && ok; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// The chaos suite, short: each pipeline component runs as its own `ziett
// serve` process against one broker and one PostgreSQL, and each is killed
// with SIGKILL once and restarted, while campaigns are posted under
// Idempotency-Keys (retried until answered) with providers that fail some
// messages. Nothing accepted is lost, doubled, stuck or miscounted; debits
// and refunds are exact; no message reaches a provider twice; every outcome
// is in the log once; the read model equals a replay of the log. `make
// chaos` runs the same with many more kills, and kills the whole `ziett
// dev` too (TestDevSurvivesKill9 does that in the tests).
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	var out strings.Builder
	// The API and the processes' operations listeners take consecutive
	// ports; the broker one of its own after them.
	base := freeRange(t, 13)
	ports := []int{base, base + 12}
	// PostgreSQL runs as another user when the test runs as root.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := chaosConfig{Dir: dir, Modes: []string{"components"}, Kills: 5, Lean: true, MinUp: 500 * time.Millisecond, MaxUp: 1500 * time.Millisecond,
		Rate: 4, Recipients: 6, Permanent: 0.1, Transient: 0.1, Settle: time.Minute,
		HTTPPort: ports[0], KafkaPort: ports[1], Command: ziettCommand(t), Out: &out}
	results, err := runChaosModes(t.Context(), c)
	t.Log("\n" + out.String())
	defer func() {
		if t.Failed() {
			logTails(t, dir)
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.totalKills() != c.Kills {
			t.Errorf("%s: %d kills, want %d", r.Mode, r.totalKills(), c.Kills)
		}
		if !r.Counts.Clean() {
			t.Errorf("%s: not clean", r.Mode)
		}
		if r.Counts.Failed == 0 || r.Counts.Refunds == 0 {
			t.Errorf("%s: %d failed messages, %d refunds: refunds were not exercised", r.Mode, r.Counts.Failed, r.Counts.Refunds)
		}
	}
}

// logTails shows the end of each process's log.
func logTails(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("%s:\n%s", filepath.Base(f), strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
}

// The harness answers -h with exit code 0; a wrong command line, such as
// a ziett binary that is not there, is a usage error before anything runs.
func TestChaosCommandLine(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"help", []string{"-h"}, cli.ExitOK},
		{"an unknown flag is a usage error", []string{"-nope"}, cli.ExitUsage},
		{"a missing ziett binary is a usage error", []string{"-ziett", filepath.Join(t.TempDir(), "nosuch")}, cli.ExitUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cli.ExitCode(runChaos(c.args)); got != c.code {
				t.Errorf("ziett-chaos %v: exit code %d, want %d", c.args, got, c.code)
			}
		})
	}
}

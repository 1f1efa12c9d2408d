package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// childArgsEnv carries the arguments with which the test binary runs
// itself as the ziett command (TestRunAsZiett): the chaos run then kills
// real processes without a separate build.
const childArgsEnv = "ZIETT_TEST_CHILD_ARGS"

// TestRunAsZiett is not a test: in a child started by ziettCommand it runs
// the command's main with the arguments given.
func TestRunAsZiett(t *testing.T) {
	raw := os.Getenv(childArgsEnv)
	if raw == "" {
		t.Skip("runs only as a child process of the chaos test")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Args = append([]string{"ziett"}, args...)
	main()
	os.Exit(0)
}

func ziettCommand(args ...string) *exec.Cmd {
	b, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunAsZiett$", "-test.count=1")
	cmd.Env = []string{childArgsEnv + "=" + string(b)}
	return cmd
}

// freePorts reserves n distinct free TCP ports (released before use, so a
// race with another process is possible but unlikely).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// The chaos suite's checker, short: each component runs as its own
// process against one broker and one PostgreSQL, campaigns are posted
// under Idempotency-Keys with providers that fail some messages, and
// processes are killed with SIGKILL and restarted from disk. Nothing
// accepted is lost, doubled, stuck or miscounted; no message reaches a
// provider twice; every outcome is in the log once; the read model equals
// a replay of the log. `make chaos` runs the same with many more kills.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	var out strings.Builder
	ports := freePorts(t, 12)
	// PostgreSQL runs as another user when the test runs as root.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := chaosConfig{Dir: dir, Modes: []string{"components"}, Kills: 4, MinUp: 500 * time.Millisecond, MaxUp: 1500 * time.Millisecond,
		Rate: 4, Recipients: 6, Permanent: 0.1, Transient: 0.1, Settle: time.Minute,
		HTTPPort: ports[0], KafkaPort: ports[1], Command: ziettCommand, Out: &out}
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

package datalock_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"ziett.co/campaigns/adapters/embedded/datalock"
)

// With lockChildEnv set, the test binary is a process that takes the lock
// on the named directory, says so, and holds it until killed.
const lockChildEnv = "DATALOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		l, err := datalock.Acquire(dir, datalock.Holder{Command: "holder", Addrs: map[string]string{"api": "127.0.0.1:1234"}})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		if err := l.SetAddr("kafka", "127.0.0.1:5678"); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("LOCKED")
		select {}
	}
	os.Exit(m.Run())
}

func holder(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "LOCKED" {
		t.Fatalf("holder process said %q", line)
	}
	return cmd
}

// A second process is refused while the first holds the directory, with
// an error naming the holder; once the holder dies, even by SIGKILL, the
// directory is free again.
func TestSecondProcessIsRefusedUntilTheHolderDies(t *testing.T) {
	dir := t.TempDir()
	h := holder(t, dir)

	_, err := datalock.Acquire(dir, datalock.Holder{Command: "second"})
	var held *datalock.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: got %v, want a HeldError", err)
	}
	if held.Holder.PID != h.Process.Pid {
		t.Errorf("holder pid %d, want %d", held.Holder.PID, h.Process.Pid)
	}
	for _, want := range []string{dir, "pid " + strconv.Itoa(h.Process.Pid), "holder", "api 127.0.0.1:1234", "kafka 127.0.0.1:5678"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	if err := h.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.Wait() //nolint:errcheck // killed
	l, err := datalock.Acquire(dir, datalock.Holder{Command: "after"})
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	defer l.Release() //nolint:errcheck
	// And the file now names this process.
	_, err = datalock.Acquire(dir, datalock.Holder{})
	if !errors.As(err, &held) || held.Holder.PID != os.Getpid() || held.Holder.Command != "after" {
		t.Fatalf("third Acquire: got %v (holder %+v), want a HeldError naming this process", err, held)
	}
}

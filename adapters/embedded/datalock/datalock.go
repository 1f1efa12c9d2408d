// Package datalock gives one process at a time a data directory, as
// Kafka's log directories (.lock) and PostgreSQL's postmaster.pid do: the
// holder keeps an exclusive flock on a lock file, which the kernel releases
// when the process ends however it ends, so a crash never leaves a stale
// lock. The file also says who holds it, for the error a second process
// gets.
package datalock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// FileName is the lock file inside the data directory.
const FileName = "ziett.lock"

// Holder describes the process holding a data directory.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	// Addrs are the holder's listen addresses by name (api, kafka, ...).
	Addrs map[string]string `json:"addrs,omitempty"`
}

func (h Holder) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d", h.PID)
	if h.Command != "" {
		fmt.Fprintf(&b, ", %s", h.Command)
	}
	for _, k := range []string{"api", "kafka", "postgres"} {
		if a := h.Addrs[k]; a != "" {
			fmt.Fprintf(&b, ", %s %s", k, a)
		}
	}
	if !h.Started.IsZero() {
		fmt.Fprintf(&b, ", started %s", h.Started.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// HeldError is Acquire's error when another process holds the directory.
type HeldError struct {
	Dir    string
	Holder Holder // zero if the holder has not described itself yet
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.Holder.PID != 0 {
		who = "another process (" + e.Holder.String() + ")"
	}
	return fmt.Sprintf("data directory %s is in use by %s; stop it first, or give this one another directory", e.Dir, who)
}

// Lock is a held data directory.
type Lock struct {
	f      *os.File
	holder Holder
}

// Acquire locks dir (which must exist) for this process, describing it as
// holder (PID is filled in). It fails at once with a *HeldError if another
// process holds it.
func Acquire(dir string, holder Holder) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			held := &HeldError{Dir: dir}
			if b, rerr := os.ReadFile(path); rerr == nil {
				json.Unmarshal(b, &held.Holder) //nolint:errcheck // a half-written file names no one
			}
			return nil, held
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	holder.PID = os.Getpid()
	if holder.Started.IsZero() {
		holder.Started = time.Now()
	}
	l := &Lock{f: f, holder: holder}
	if err := l.write(); err != nil {
		l.Release() //nolint:errcheck
		return nil, err
	}
	return l, nil
}

// SetAddr records one of the holder's addresses once it is known.
func (l *Lock) SetAddr(name, addr string) error {
	if l.holder.Addrs == nil {
		l.holder.Addrs = map[string]string{}
	}
	l.holder.Addrs[name] = addr
	return l.write()
}

func (l *Lock) write() error {
	b, err := json.Marshal(l.holder)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return l.f.Sync()
}

// Release unlocks the directory. The file stays: removing it would let a
// process that opened it just before take a lock nobody else can see.
func (l *Lock) Release() error {
	return l.f.Close() // closing the only descriptor drops the flock
}

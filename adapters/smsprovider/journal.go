package smsprovider

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// A journal makes the simulated operator outlive the process that runs it,
// as a real operator outlives ours: every decision (accepted with its
// reference, rejected with its code) and every further call answered with
// success for an accepted message is appended to a file before the call
// returns, and NewJournaled reloads the file. A dispatcher restarted after
// a crash then finds by Lookup what the operator already has, exactly as
// it would with a real one, and the chaos checker reads the file to count
// messages handed over more than once. One process at a time may use a
// journal file.
//
// Lines: "S <message id> <reference>", "R <message id> <code>",
// "D <message id>" (another call for an accepted message).

// JournalFile is where the provider named name journals under dir.
func JournalFile(dir, name string) string { return filepath.Join(dir, name+".journal") }

// NewJournaled is NewSimulated with cfg.JournalDir set: it reloads the
// provider's journal, if any, and appends to it from then on.
func NewJournaled(cfg Config) (*Simulated, error) {
	s := NewSimulated(cfg)
	if cfg.JournalDir == "" {
		return s, nil
	}
	if err := os.MkdirAll(cfg.JournalDir, 0o755); err != nil {
		return nil, err
	}
	path := JournalFile(cfg.JournalDir, cfg.Name)
	j, err := ReadJournal(path)
	if err != nil {
		return nil, err
	}
	for id, n := range j.Accepted {
		s.sent[id] = &acceptance{ref: j.Refs[id], calls: n}
	}
	for id, code := range j.Rejected {
		s.rejected[id] = rejection{code, "destination rejected by operator"}
	}
	s.seq.Store(int64(len(j.Accepted)))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.journal = f
	return s, nil
}

// Journal is what a journal file records.
type Journal struct {
	// Accepted counts, per accepted message, the calls answered with
	// success: more than one is a message handed over more than once.
	Accepted map[uuid.UUID]int
	Refs     map[uuid.UUID]string
	Rejected map[uuid.UUID]string
}

// ReadJournal reads a journal file; a missing file is an empty journal. A
// torn last line (the process died while writing it) is ignored: its call
// never returned.
func ReadJournal(path string) (Journal, error) {
	j := Journal{Accepted: map[uuid.UUID]int{}, Refs: map[uuid.UUID]string{}, Rejected: map[uuid.UUID]string{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return j, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		id, err := uuid.Parse(fs[1])
		if err != nil {
			continue
		}
		switch {
		case fs[0] == "S" && len(fs) == 3:
			j.Accepted[id]++
			j.Refs[id] = fs[2]
		case fs[0] == "D":
			if _, ok := j.Accepted[id]; !ok {
				return j, fmt.Errorf("%s:%d: repeat of a message never accepted", path, line)
			}
			j.Accepted[id]++
		case fs[0] == "R" && len(fs) == 3:
			j.Rejected[id] = fs[2]
		}
	}
	return j, sc.Err()
}

// record appends a line; the caller holds s.mu. A write that fails loses
// the simulation's memory, which must not pass silently.
func (s *Simulated) record(format string, args ...any) {
	if s.journal == nil {
		return
	}
	if _, err := fmt.Fprintf(s.journal, format+"\n", args...); err != nil {
		panic(fmt.Sprintf("smsprovider: journal %s: %v", s.journal.Name(), err))
	}
}

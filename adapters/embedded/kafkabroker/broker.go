// Package kafkabroker runs the embedded Kafka broker of `ziett dev` (kfake,
// the real protocol) over a data directory that survives a crash.
//
// kfake keeps the log on disk, but a transaction that was open when the
// process died is aborted only in memory on the next start: no abort marker
// reaches the disk, and once the same producer id writes again the log means
// something else (docs/embedded-broker-crash-recovery.md). Start therefore
// tells a clean stop from a crash, and after a crash it writes the missing
// abort markers itself, on a private port, before any client connects.
package kafkabroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// cleanFile is written into the data directory after the broker stopped
// cleanly (kfake wrote its snapshots) and removed when it starts: a data
// directory without it was last left by a crash.
const cleanFile = "ziett-clean-shutdown"

// Options configures Start.
type Options struct {
	// Dir is the broker's data directory, created if missing.
	Dir string
	// Addr is the listen address; "127.0.0.1:0" picks a free port.
	Addr string
	// Logf receives progress messages and the broker's warnings; nil
	// discards them.
	Logf func(format string, args ...any)
}

// Broker is a running embedded broker.
type Broker struct {
	// Recovered lists the transactions that a crash had left open and that
	// Start ended on disk.
	Recovered []Orphan
	// Damaged lists what an earlier crash without recovery did to the
	// log (records of aborted transactions now read as committed), found
	// while recovering.
	Damaged []Resurrected

	cluster *kfake.Cluster
	dir     string
	log     *logger
}

// Start opens the data directory and serves it on Addr. If the directory
// was not closed cleanly, it first aborts, durably, every transaction the
// crash left open.
func Start(ctx context.Context, o Options) (*Broker, error) {
	if o.Dir == "" {
		return nil, errors.New("kafkabroker: no data directory")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	b := &Broker{dir: o.Dir, log: &logger{logf: o.Logf}}
	unclean, err := uncleanStop(o.Dir)
	if err != nil {
		return nil, err
	}
	if unclean {
		o.Logf("kafka data directory %s was not closed cleanly: ending the transactions it left open", o.Dir)
		if b.Recovered, b.Damaged, err = recoverDir(ctx, o.Dir, b.log); err != nil {
			return nil, fmt.Errorf("kafkabroker: recover %s: %w", o.Dir, err)
		}
		for _, r := range b.Recovered {
			end := "aborted"
			if r.Committed {
				end = "committed (its commit was under way)"
			}
			o.Logf("%s transaction left open by the crash: producer %d epoch %d on %s/%d from offset %d",
				end, r.ProducerID, r.ProducerEpoch, r.Topic, r.Partition, r.FirstOffset)
		}
		for _, d := range b.Damaged {
			o.Logf("the log was damaged by an earlier crash: %d records of producer %d on %s/%d from offset %d belong to a transaction "+
				"that crash left open, and read as committed; this cannot be repaired in place (docs/embedded-broker-crash-recovery.md)",
				d.Records, d.ProducerID, d.Topic, d.Partition, d.FirstOffset)
		}
	}
	if err := os.Remove(filepath.Join(o.Dir, cleanFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := syncDir(o.Dir); err != nil {
		return nil, err
	}
	addr := o.Addr
	b.cluster, err = kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(o.Dir),
		kfake.WithLogger(b.log),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
	)
	if err != nil {
		return nil, fmt.Errorf("kafkabroker: listen on %s: %w", addr, err)
	}
	return b, nil
}

// Addrs is where clients connect.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker, which writes its state to disk, and marks the
// directory clean unless writing failed.
func (b *Broker) Close() error {
	b.log.resetErrors()
	b.cluster.Close()
	if err := b.log.err(); err != nil {
		return fmt.Errorf("kafkabroker: stop: %w (the next start recovers as after a crash)", err)
	}
	f, err := os.Create(filepath.Join(b.dir, cleanFile))
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	return syncDir(b.dir)
}

// uncleanStop reports whether dir holds a log that was not closed cleanly.
// An empty directory is clean; so is one whose last broker wrote the clean
// marker on Close.
func uncleanStop(dir string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, "meta.json")); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	_, err := os.Stat(filepath.Join(dir, cleanFile))
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	return false, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// logger passes the broker's warnings and errors on, and remembers errors
// so that Close can tell a failed save.
type logger struct {
	logf func(string, ...any)
	mu   sync.Mutex
	errs []error
}

func (l *logger) Logf(lvl kfake.LogLevel, msg string, args ...any) {
	if lvl > kfake.LogLevelWarn {
		return
	}
	text := fmt.Sprintf(msg, args...)
	if lvl == kfake.LogLevelError {
		l.mu.Lock()
		l.errs = append(l.errs, errors.New(text))
		l.mu.Unlock()
	}
	l.logf("kafka broker %s: %s", lvl, text)
}

func (l *logger) resetErrors() {
	l.mu.Lock()
	l.errs = nil
	l.mu.Unlock()
}

func (l *logger) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

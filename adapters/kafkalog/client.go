package kafkalog

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientConfig is what every Kafka client of the service shares: where the
// cluster is, and the options each client gets on top of its own. Every
// client and transactional session outside tests is built from one by
// Client or GroupTransactSession, so an option added here (a metrics hook,
// a test's short timeouts) reaches all of them.
type ClientConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Opts are appended after a client's own options, so they win over
	// them: the service adds its metrics hooks (metrics.KafkaHook), tests
	// shorten timeouts. Default: none.
	Opts []kgo.Opt
}

// Validate reports a config no client can be built from.
func (c ClientConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka client: no seed brokers")
	}
	return nil
}

// Options are the options of a client built from c with extra as its own:
// the seed brokers, then extra, then the shared options.
func (c ClientConfig) Options(extra ...kgo.Opt) []kgo.Opt {
	opts := make([]kgo.Opt, 0, 1+len(extra)+len(c.Opts))
	opts = append(opts, kgo.SeedBrokers(c.Brokers...))
	opts = append(opts, extra...)
	return append(opts, c.Opts...)
}

// With is c with more shared options (after c's own).
func (c ClientConfig) With(opts ...kgo.Opt) ClientConfig {
	c.Opts = append(append([]kgo.Opt(nil), c.Opts...), opts...)
	return c
}

// Client builds a Kafka client from the shared options and extra, the
// client's own.
func Client(c ClientConfig, extra ...kgo.Opt) (*kgo.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return kgo.NewClient(c.Options(extra...)...)
}

// GroupTransactSession builds a transactional consumer-group session from
// the shared options and extra, the session's own.
func GroupTransactSession(c ClientConfig, extra ...kgo.Opt) (*kgo.GroupTransactSession, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return kgo.NewGroupTransactSession(c.Options(extra...)...)
}

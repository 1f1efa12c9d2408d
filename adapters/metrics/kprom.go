package metrics

import (
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// kafkaClients adds franz-go's own client metrics (plugin/kprom, series
// ziett_kafka_*: connections, bytes and requests per broker, produce and
// fetch bytes, batches and records per topic, throttling, latencies) to
// the registry.
//
// A kprom.Metrics serves one client: its OnNewClient registers the series
// and OnClientClosed removes them. A process runs many clients (one per
// stage, plus admin and rebuild clients), all built from the same hooks,
// so this hook lets the first client register the series, never
// unregisters them, and feeds every client's events into them: the
// series are the process's, summed over its clients. The buffered
// records and bytes gauges are the first client's, the shared producer
// the stack creates before any other.
type kafkaClients struct {
	k    *kprom.Metrics
	once sync.Once
}

var (
	_ kgo.HookNewClient           = (*kafkaClients)(nil)
	_ kgo.HookBrokerConnect       = (*kafkaClients)(nil)
	_ kgo.HookBrokerDisconnect    = (*kafkaClients)(nil)
	_ kgo.HookBrokerThrottle      = (*kafkaClients)(nil)
	_ kgo.HookProduceBatchWritten = (*kafkaClients)(nil)
	_ kgo.HookFetchBatchRead      = (*kafkaClients)(nil)
	_ kgo.HookBrokerRead          = (*kafkaClients)(nil)
	_ kgo.HookBrokerWrite         = (*kafkaClients)(nil)
	_ kgo.HookBrokerE2E           = (*kafkaClients)(nil)
)

// ready reports whether the series exist: hooks of a client can only run
// after its OnNewClient, and the first client's registers them.
func (h *kafkaClients) OnNewClient(cl *kgo.Client) { h.once.Do(func() { h.k.OnNewClient(cl) }) }

func (h *kafkaClients) OnBrokerConnect(meta kgo.BrokerMetadata, d time.Duration, c net.Conn, err error) {
	h.k.OnBrokerConnect(meta, d, c, err)
}

func (h *kafkaClients) OnBrokerDisconnect(meta kgo.BrokerMetadata, c net.Conn) {
	h.k.OnBrokerDisconnect(meta, c)
}

func (h *kafkaClients) OnBrokerThrottle(meta kgo.BrokerMetadata, d time.Duration, after bool) {
	h.k.OnBrokerThrottle(meta, d, after)
}

func (h *kafkaClients) OnProduceBatchWritten(meta kgo.BrokerMetadata, topic string, p int32, m kgo.ProduceBatchMetrics) {
	h.k.OnProduceBatchWritten(meta, topic, p, m)
}

func (h *kafkaClients) OnFetchBatchRead(meta kgo.BrokerMetadata, topic string, p int32, m kgo.FetchBatchMetrics) {
	h.k.OnFetchBatchRead(meta, topic, p, m)
}

func (h *kafkaClients) OnBrokerRead(meta kgo.BrokerMetadata, key int16, n int, wait, timeToRead time.Duration, err error) {
	h.k.OnBrokerRead(meta, key, n, wait, timeToRead, err)
}

func (h *kafkaClients) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, n int, wait, timeToWrite time.Duration, err error) {
	h.k.OnBrokerWrite(meta, key, n, wait, timeToWrite, err)
}

func (h *kafkaClients) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	h.k.OnBrokerE2E(meta, key, e2e)
}

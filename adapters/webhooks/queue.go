package webhooks

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/domain/webhook"
)

// Watermill topics of the sender, each a table (see QueueSchema).
const (
	// Topic holds the attempts to make.
	Topic = "webhooks"
	// PoisonTopic keeps the jobs the sender failed to handle (not the
	// receivers' failures, which are retried on schedule): an operator's
	// dead letters.
	PoisonTopic = "webhooks_poison"
)

var tables = map[string]string{Topic: "webhook_queue", PoisonTopic: "webhook_poison"}

// DueAtKey is the metadata key of the time before which a queued job is
// not taken. Watermill's own delay metadata has whole seconds; retries and
// Retry-After need better.
const DueAtKey = "due_at"

// Queue is the delivery queue the sender consumes: a watermill-sql topic in
// PostgreSQL, so jobs are queued in the transaction that records their
// deliveries. It implements the queue ports of the outbox
// (projections/webhooks.Queue) and of endpoint management (through Store).
type Queue struct{}

// Enqueue queues jobs due now, in tx: they are taken once tx commits and
// never if it rolls back.
func (Queue) Enqueue(ctx context.Context, tx pgx.Tx, jobs ...webhook.Job) error {
	msgs := make([]*message.Message, len(jobs))
	for i, j := range jobs {
		msgs[i] = NewJobMessage(j, time.Time{})
	}
	return Publish(ctx, wsql.TxFromPgx(tx), Topic, msgs...)
}

// NewJobMessage wraps a job for the queue, due at due (now when zero).
func NewJobMessage(j webhook.Job, due time.Time) *message.Message {
	b, _ := json.Marshal(j) //nolint:errchkjson // plain struct
	m := message.NewMessage(uuid.NewString(), b)
	if !due.IsZero() {
		m.Metadata.Set(DueAtKey, due.UTC().Format(time.RFC3339Nano))
	}
	return m
}

// QueueSchema is the watermill-sql schema and offsets adapter of the
// webhook topics. Unlike the stock PostgreSQL queue schema it takes rows
// with SKIP LOCKED, so several workers consume one topic side by side (a
// slow receiver holds up one worker, not the queue), and it keeps the due
// time in an indexed column rather than in the JSON metadata.
type QueueSchema struct {
	// BatchSize is the rows one worker takes at once; 1 (the default)
	// keeps what a crash can repeat to one attempt.
	BatchSize int
}

// QueueOffsets is the offsets adapter that goes with QueueSchema: a
// handled job is deleted.
type QueueOffsets struct{}

var (
	_ wsql.SchemaAdapter  = QueueSchema{}
	_ wsql.OffsetsAdapter = QueueOffsets{}
)

func table(topic string) (string, error) {
	t, ok := tables[topic]
	if !ok {
		return "", fmt.Errorf("webhooks: unknown topic %q", topic)
	}
	return t, nil
}

// SchemaInitializingQueries returns nothing: the tables come from the
// migrations (schemas/migrations/0006_webhooks.sql).
func (QueueSchema) SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil
}

func (QueueSchema) InsertQuery(p wsql.InsertQueryParams) (wsql.Query, error) {
	t, err := table(p.Topic)
	if err != nil {
		return wsql.Query{}, err
	}
	var sb strings.Builder
	sb.WriteString(`INSERT INTO public.` + t + ` (uuid, payload, metadata, due_at) VALUES `)
	args := make([]any, 0, 4*len(p.Msgs))
	for i, m := range p.Msgs {
		md, err := json.Marshal(m.Metadata)
		if err != nil {
			return wsql.Query{}, err
		}
		var due *time.Time
		if s := m.Metadata.Get(DueAtKey); s != "" {
			d, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return wsql.Query{}, fmt.Errorf("message %s: %s: %w", m.UUID, DueAtKey, err)
			}
			due = &d
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		n := 4 * i
		fmt.Fprintf(&sb, "($%d, $%d, $%d, coalesce($%d::timestamptz, now()))", n+1, n+2, n+3, n+4)
		args = append(args, m.UUID, []byte(m.Payload), md, due)
	}
	return wsql.Query{Query: sb.String(), Args: args}, nil
}

func (s QueueSchema) SelectQuery(p wsql.SelectQueryParams) (wsql.Query, error) {
	if p.ConsumerGroup != "" {
		return wsql.Query{}, fmt.Errorf("webhooks: queue topics have no consumer groups")
	}
	t, err := table(p.Topic)
	if err != nil {
		return wsql.Query{}, err
	}
	n := max(1, s.BatchSize)
	return wsql.Query{Query: `SELECT "offset", uuid, payload, metadata FROM public.` + t + `
		WHERE due_at <= now() ORDER BY due_at, "offset" LIMIT ` + strconv.Itoa(n) + ` FOR UPDATE SKIP LOCKED`}, nil
}

func (QueueSchema) UnmarshalMessage(p wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var r wsql.Row
	var id string
	if err := p.Row.Scan(&r.Offset, &id, &r.Payload, &r.Metadata); err != nil {
		return wsql.Row{}, fmt.Errorf("scan queued job: %w", err)
	}
	r.UUID = []byte(id)
	r.Msg = message.NewMessage(id, r.Payload)
	if len(r.Metadata) > 0 {
		if err := json.Unmarshal(r.Metadata, &r.Msg.Metadata); err != nil {
			return wsql.Row{}, fmt.Errorf("queued job %s metadata: %w", id, err)
		}
	}
	return r, nil
}

// SubscribeIsolationLevel is READ COMMITTED: with SKIP LOCKED, workers
// never wait on each other's rows, and a stricter level would fail them on
// rows another worker deleted meanwhile.
func (QueueSchema) SubscribeIsolationLevel() stdsql.IsolationLevel { return stdsql.LevelReadCommitted }

// AckMessageQuery deletes the jobs handled, in the transaction the handler
// recorded its attempt in.
func (QueueOffsets) AckMessageQuery(p wsql.AckMessageQueryParams) (wsql.Query, error) {
	t, err := table(p.Topic)
	if err != nil {
		return wsql.Query{}, err
	}
	offs := make([]int64, len(p.Rows))
	for i, r := range p.Rows {
		offs[i] = r.Offset
	}
	return wsql.Query{Query: `DELETE FROM public.` + t + ` WHERE "offset" = ANY($1)`, Args: []any{offs}}, nil
}

func (QueueOffsets) ConsumedMessageQuery(wsql.ConsumedMessageQueryParams) (wsql.Query, error) {
	return wsql.Query{}, nil
}

func (QueueOffsets) NextOffsetQuery(wsql.NextOffsetQueryParams) (wsql.Query, error) {
	return wsql.Query{}, nil
}

func (QueueOffsets) SchemaInitializingQueries(wsql.OffsetsSchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil
}

func (QueueOffsets) BeforeSubscribingQueries(wsql.BeforeSubscribingQueriesParams) ([]wsql.Query, error) {
	return nil, nil
}

// Publish queues messages through db: a transaction (wsql.TxFromPgx) to
// queue them atomically with other writes.
func Publish(ctx context.Context, db wsql.ContextExecutor, topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	for _, m := range msgs {
		m.SetContext(ctx)
	}
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: QueueSchema{}}, nil)
	if err != nil {
		return err
	}
	return pub.Publish(topic, msgs...)
}

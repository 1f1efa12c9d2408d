package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/domain/webhook"
)

// DefaultSchedule is the wait before each retry of a delivery: eight
// attempts over about a day and a half.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Defaults of Config.
const (
	DefaultWorkers          = 8
	DefaultPollInterval     = 500 * time.Millisecond
	DefaultJitter           = 0.2
	DefaultTimeout          = 15 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	DefaultMaxRetryAfter    = 24 * time.Hour
	DefaultDisableAfter     = 5 * 24 * time.Hour
	// DefaultRatePerSecond: eight workers managed 1,350-1,800/s against a
	// local receiver on two cores.
	DefaultRatePerSecond   = 1000
	DefaultInternalRetries = 3
)

// Config tunes the sender. NewSender gives a zero field its default.
type Config struct {
	// Workers is how many deliveries are in flight at once.
	// Default: DefaultWorkers.
	Workers int
	// PollInterval is how often an idle worker looks for due jobs.
	// Default: DefaultPollInterval.
	PollInterval time.Duration
	// Schedule is the wait before each retry; its length is the number of
	// retries. Default: DefaultSchedule (when nil).
	Schedule []time.Duration
	// Jitter spreads each wait by up to this fraction either way (negative
	// for none), so deliveries failed together do not all come back
	// together. Default: DefaultJitter.
	Jitter float64
	// Timeout bounds one attempt, response included.
	// Default: DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes is the most of a response read.
	// Default: DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// MaxRetryAfter caps how long a receiver's Retry-After can hold a
	// retry back. Default: DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// DisableAfter disables an endpoint whose every attempt failed for
	// this long. Default: DefaultDisableAfter.
	DisableAfter time.Duration
	// RatePerSecond caps attempts across all workers.
	// Default: DefaultRatePerSecond.
	RatePerSecond int
	// InternalRetries retries a job whose handling failed on our side (a
	// database error) before it is set aside as poison.
	// Default: DefaultInternalRetries.
	InternalRetries int
	// Allow is the operator's allow-list of otherwise refused addresses.
	// Default: none.
	Allow []netip.Prefix
}

func (c *Config) setDefaults() {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = DefaultDisableAfter
	}
	if c.RatePerSecond == 0 {
		c.RatePerSecond = DefaultRatePerSecond
	}
	if c.InternalRetries == 0 {
		c.InternalRetries = DefaultInternalRetries
	}
}

// Validate reports tuning the sender cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Workers < 0:
		return fmt.Errorf("webhooks: negative workers %d", c.Workers)
	case c.PollInterval < 0 || c.Timeout < 0 || c.MaxRetryAfter < 0 || c.DisableAfter < 0:
		return fmt.Errorf("webhooks: negative duration in %+v", c)
	case c.MaxResponseBytes < 0:
		return fmt.Errorf("webhooks: negative max response bytes %d", c.MaxResponseBytes)
	case c.RatePerSecond < 0:
		return fmt.Errorf("webhooks: negative rate %d", c.RatePerSecond)
	case c.InternalRetries < 0:
		return fmt.Errorf("webhooks: negative internal retries %d", c.InternalRetries)
	}
	for _, d := range c.Schedule {
		if d < 0 {
			return fmt.Errorf("webhooks: negative wait in schedule %v", c.Schedule)
		}
	}
	return nil
}

// SenderConfig configures a Sender. NewSender applies the defaults and
// validates it.
type SenderConfig struct {
	// DatabaseURL opens the sender's own pool: every worker holds a
	// connection while its attempt is in flight, which must not starve the
	// API or the projector. Required.
	DatabaseURL string
	// Config tunes the sender; each field has its own default.
	Config Config
	// Log receives every attempt. Default: slog.Default().
	Log *slog.Logger
	// Observe is told of every attempt: its outcome (delivered, retry,
	// failed) and how long the receiver took. Default: nothing is told.
	Observe func(outcome string, took time.Duration)
}

// NewSender applies cfg's defaults, validates it and returns the sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string, time.Duration) {}
	}
	cfg.Config.setDefaults()
	if cfg.DatabaseURL == "" {
		return nil, errors.New("webhooks: no database URL")
	}
	if err := cfg.Config.Validate(); err != nil {
		return nil, err
	}
	return &Sender{databaseURL: cfg.DatabaseURL, cfg: cfg.Config, log: cfg.Log, observed: cfg.Observe,
		client: newClient(Guard{Allow: cfg.Config.Allow}, cfg.Config.Timeout)}, nil
}

// Sender delivers the queued webhooks: a Watermill router whose workers
// each consume the Postgres queue through a watermill-sql subscriber.
type Sender struct {
	databaseURL string
	cfg         Config
	log         *slog.Logger
	observed    func(outcome string, took time.Duration)
	client      *http.Client
}

// Run delivers until ctx ends, then lets the attempts in flight finish.
func (s *Sender) Run(ctx context.Context) error {
	pool, err := postgres.Connect(ctx, s.databaseURL, int32(s.cfg.Workers+1))
	if err != nil {
		return err
	}
	defer pool.Close()

	// Watermill narrates every start and stop at info; keep that at debug.
	wlog := watermill.NewSlogLoggerWithLevelMapping(s.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	// An attempt in hand may take its whole timeout, on each internal retry.
	inHand := time.Duration(s.cfg.InternalRetries+1)*(s.cfg.Timeout+5*time.Second) + 10*time.Second
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: inHand}, wlog)
	if err != nil {
		return err
	}
	poison, err := middleware.PoisonQueueWithFilter(poisonPublisher{}, PoisonTopic, func(err error) bool {
		// Shutting down is no fault of the job's: it runs again later.
		return !errors.Is(err, context.Canceled)
	})
	if err != nil {
		return err
	}
	retry := middleware.Retry{
		MaxRetries:      s.cfg.InternalRetries,
		InitialInterval: 100 * time.Millisecond,
		MaxInterval:     2 * time.Second,
		Multiplier:      2,
		MaxElapsedTime:  time.Minute,
		ShouldRetry: func(p middleware.RetryParams) bool {
			var pe permanentError
			return !errors.As(p.Err, &pe) && !errors.Is(p.Err, context.Canceled)
		},
		Logger: wlog,
	}
	// First added runs outermost: the throttle paces jobs, poison catches
	// what retries could not fix, panics become errors the others see.
	router.AddMiddleware(
		middleware.NewThrottle(int64(s.cfg.RatePerSecond), time.Second).Middleware,
		poison,
		retry.Middleware,
		middleware.Recoverer,
	)
	for i := range s.cfg.Workers {
		sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
			SchemaAdapter:  QueueSchema{},
			OffsetsAdapter: QueueOffsets{},
			PollInterval:   s.cfg.PollInterval,
			ResendInterval: s.cfg.PollInterval,
			RetryInterval:  max(s.cfg.PollInterval, time.Second),
			AckDeadline:    &inHand,
		}, wlog)
		if err != nil {
			return err
		}
		router.AddConsumerHandler(fmt.Sprintf("webhooks-%d", i), Topic, newDrainingSubscriber(sub), s.handle)
	}
	return router.Run(ctx)
}

// permanentError is a job no retry can help.
type permanentError struct{ error }

// handle runs one job inside the queue transaction that deletes it: the
// attempt's record, the delivery's new state and the next job commit with
// that deletion, or none of them do. It works in a savepoint so that a
// failure leaves the transaction usable for a retry or the poison queue.
func (s *Sender) handle(msg *message.Message) error {
	var job webhook.Job
	if err := json.Unmarshal(msg.Payload, &job); err != nil || job.DeliveryID == uuid.Nil {
		return permanentError{fmt.Errorf("undecodable job %s: %v", msg.UUID, err)}
	}
	ptx, err := queueTx(msg)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	return pgx.BeginFunc(ctx, ptx, func(tx pgx.Tx) error { return s.deliver(ctx, tx, job) })
}

func queueTx(msg *message.Message) (pgx.Tx, error) {
	t, ok := wsql.TxFromContext(msg.Context())
	if !ok {
		return nil, permanentError{errors.New("job without its queue transaction")}
	}
	pt, ok := t.(*wsql.PgxTx)
	if !ok {
		return nil, permanentError{fmt.Errorf("queue transaction is a %T, not pgx", t)}
	}
	return pt.Tx, nil
}

// target is a delivery with what an attempt needs.
type target struct {
	status              string
	autoAttempts, tries int
	next                *time.Time
	payload             []byte
	endpoint            uuid.UUID
	url, endpointStatus string
	disabledReason      *string
	secret              string
	previous            *string
	previousExpires     *time.Time
}

func (s *Sender) deliver(ctx context.Context, tx pgx.Tx, job webhook.Job) error {
	var t target
	err := tx.QueryRow(ctx, `SELECT d.status, d.auto_attempts, d.attempts, d.next_attempt_at, e.payload,
			p.endpoint_id, p.url, p.status, p.disabled_reason, p.secret, p.previous_secret, p.previous_secret_expires_at
		FROM webhook_deliveries d JOIN webhook_events e USING (event_id) JOIN webhook_endpoints p USING (endpoint_id)
		WHERE d.delivery_id = $1 FOR UPDATE OF d`, job.DeliveryID).Scan(
		&t.status, &t.autoAttempts, &t.tries, &t.next, &t.payload,
		&t.endpoint, &t.url, &t.endpointStatus, &t.disabledReason, &t.secret, &t.previous, &t.previousExpires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // the endpoint was deleted with its deliveries
	}
	if err != nil {
		return err
	}
	if !job.Manual && (t.status != webhook.Pending || t.autoAttempts != job.Attempt-1) {
		return nil // delivered, given up, or this attempt was made already
	}
	if t.endpointStatus != webhook.Enabled {
		if job.Manual || t.status != webhook.Pending {
			return nil
		}
		why := "The endpoint is disabled."
		if t.disabledReason != nil {
			why = "The endpoint is disabled: " + *t.disabledReason
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_at = NULL, last_error = $2
			WHERE delivery_id = $1`, job.DeliveryID, why)
		return err
	}
	secrets := []string{t.secret}
	if t.previous != nil && t.previousExpires != nil && time.Now().Before(*t.previousExpires) {
		secrets = append(secrets, *t.previous)
	}
	r := s.post(ctx, t.url, job.DeliveryID.String(), secrets, t.payload)
	s.log.Info("webhook attempt", "delivery_id", job.DeliveryID, "endpoint_id", t.endpoint, "attempt", t.tries+1,
		"manual", job.Manual, "status", r.status, "error", r.err, "duration_ms", r.duration.Milliseconds())
	return s.record(ctx, tx, job, t, r)
}

// record logs an attempt and moves the delivery and its endpoint on.
func (s *Sender) record(ctx context.Context, tx pgx.Tx, job webhook.Job, t target, r result) error {
	id := job.DeliveryID
	n := t.tries + 1
	var status *int
	var errText *string
	if r.status != 0 {
		status = &r.status
	}
	if r.err != "" {
		errText = &r.err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, attempt, manual, webhook_timestamp, started_at,
			duration_ms, status_code, error, response_body, succeeded)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10)`,
		id, n, job.Manual, r.timestamp, r.started, r.duration.Milliseconds(), status, errText, r.body, r.ok()); err != nil {
		return err
	}
	auto := t.autoAttempts
	if !job.Manual {
		auto++
	}
	now := time.Now()
	if r.ok() {
		s.observe("delivered", r.duration)
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'DELIVERED', attempts = $2, auto_attempts = $3,
				next_attempt_at = NULL, last_attempt_at = $4, last_status_code = $5, last_error = NULL,
				delivered_at = coalesce(delivered_at, $6)
			WHERE delivery_id = $1`, id, n, auto, r.started, status, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE endpoint_id = $1 AND failing_since IS NOT NULL`, t.endpoint)
		return err
	}

	var disable string
	var since time.Time
	if err := tx.QueryRow(ctx, `UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
		WHERE endpoint_id = $1 RETURNING failing_since`, t.endpoint, r.started).Scan(&since); err != nil {
		return err
	}
	switch {
	case r.status == http.StatusGone:
		disable = "The receiver answered 410 Gone."
	case now.Sub(since) >= s.cfg.DisableAfter:
		disable = fmt.Sprintf("Every attempt failed since %s.", since.UTC().Format(time.RFC3339))
	}
	if disable != "" {
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET status = 'DISABLED', disabled_reason = $2, disabled_at = now(),
				updated_at = now() WHERE endpoint_id = $1 AND status = 'ENABLED'`, t.endpoint, disable); err != nil {
			return err
		}
		s.log.Warn("webhook endpoint disabled", "endpoint_id", t.endpoint, "reason", disable)
	}

	state, next := t.status, t.next
	if !job.Manual {
		state, next = webhook.Failed, nil
		if disable == "" && auto <= len(s.cfg.Schedule) {
			due := now.Add(s.wait(auto, r.retryAfter))
			state, next = webhook.Pending, &due
			if err := Publish(ctx, wsql.TxFromPgx(tx), Topic,
				NewJobMessage(webhook.Job{DeliveryID: id, Attempt: auto + 1}, due)); err != nil {
				return err
			}
		}
	}
	if state == webhook.Pending && !job.Manual {
		s.observe("retry", r.duration)
	} else {
		s.observe("failed", r.duration)
	}
	_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = $3, auto_attempts = $4, next_attempt_at = $5,
			last_attempt_at = $6, last_status_code = $7, last_error = $8
		WHERE delivery_id = $1`, id, state, n, auto, next, r.started, status, errText)
	return err
}

func (s *Sender) observe(outcome string, took time.Duration) {
	s.observed(outcome, took)
}

// wait is the pause after the k-th scheduled attempt failed: the
// schedule's, spread by the jitter, or longer if the receiver asked.
func (s *Sender) wait(k int, retryAfter time.Duration) time.Duration {
	d := s.cfg.Schedule[k-1]
	if s.cfg.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + s.cfg.Jitter*(2*rand.Float64()-1)))
	}
	if retryAfter > d {
		d = min(retryAfter, s.cfg.MaxRetryAfter)
	}
	return d
}

// poisonPublisher sets a job aside in the queue transaction, so it leaves
// the queue exactly when it lands in the poison table, and fails its
// delivery so the API shows why nothing more happens.
type poisonPublisher struct{}

func (poisonPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		tx, err := queueTx(m)
		if err != nil {
			return err
		}
		ctx := m.Context()
		var job webhook.Job
		if json.Unmarshal(m.Payload, &job) == nil && job.DeliveryID != uuid.Nil && !job.Manual {
			if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'FAILED', next_attempt_at = NULL,
					last_error = 'The delivery could not be processed; it was set aside for the operator.'
				WHERE delivery_id = $1 AND status = 'PENDING'`, job.DeliveryID); err != nil {
				return err
			}
		}
		if err := Publish(ctx, wsql.TxFromPgx(tx), topic, m); err != nil {
			return err
		}
	}
	return nil
}

func (poisonPublisher) Close() error { return nil }

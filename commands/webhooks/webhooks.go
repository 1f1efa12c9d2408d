// Package webhooks manages an organisation's webhook endpoints: registering
// and deleting them, rotating their signing secrets, enabling them again,
// resending a delivery and sending a test event. It keeps them through
// Store, a port implemented over PostgreSQL in adapters/webhooks, whose
// transactions also queue the jobs the sender consumes.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/webhook"
)

// secretBytes is the signing key's length: 256 bits, above the spec's
// minimum of 24 bytes.
const secretBytes = 32

// MaxEndpoints bounds an organisation's endpoints, so one event cannot fan
// out into an unbounded number of deliveries.
const MaxEndpoints = 20

var (
	// ErrLimit refuses an endpoint beyond MaxEndpoints.
	ErrLimit = problem.New(problem.CodeWebhookLimit,
		"An organisation can have at most "+strconv.Itoa(MaxEndpoints)+" webhook endpoints; delete one first.")
	// ErrDisabled refuses a resend to a disabled endpoint.
	ErrDisabled = problem.New(problem.CodeWebhookDisabled, "The webhook endpoint is disabled; enable it before resending.")
	// ErrConflict is what Store.Update wraps when a concurrent transaction
	// wrote a row that conflicts with the command's (a unique key): the
	// command may run again.
	ErrConflict = errors.New("webhook store: conflicting concurrent write")
)

// NewSecret returns a fresh signing secret: whsec_ and the base64 of 32
// random bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails on Linux
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Endpoint is a registered webhook endpoint as the API shows it: never
// with its secret, which is shown once, when issued.
type Endpoint struct {
	ID                      uuid.UUID  `json:"webhook_id"`
	URL                     string     `json:"url"`
	Description             string     `json:"description"`
	EventTypes              []string   `json:"event_types"`
	Status                  string     `json:"status"`
	DisabledReason          *string    `json:"disabled_reason"`
	DisabledAt              *time.Time `json:"disabled_at"`
	FailingSince            *time.Time `json:"failing_since"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// NewEndpoint is what a customer registers; the API validates it.
type NewEndpoint struct {
	URL         string
	Description string
	EventTypes  []string
}

// Registration is an endpoint to store: what the customer registered, with
// the id and signing secret issued for it.
type Registration struct {
	ID     uuid.UUID
	Secret string
	NewEndpoint
}

// Rotation replaces an endpoint's signing secret.
type Rotation struct {
	Secret string
	// KeepPreviousUntil, when set, keeps the secret replaced signing
	// beside the new one until then; when nil it stops at once.
	KeepPreviousUntil *time.Time
}

// Event is a webhook event as recorded for its deliveries.
type Event struct {
	ID uuid.UUID
	// SourceID is what the event was derived from; replaying the source
	// cannot record the event twice.
	SourceID   uuid.UUID
	OrgID      uuid.UUID
	CampaignID uuid.UUID
	Type       string
	Sequence   int
	// Payload is the body every delivery of the event sends.
	Payload    []byte
	OccurredAt time.Time
}

// Store keeps the endpoints of every organisation, each call scoped by
// organisation (another organisation's endpoint is webhook.ErrNotFound).
type Store interface {
	List(ctx context.Context, org uuid.UUID) ([]Endpoint, error)
	Get(ctx context.Context, org, id uuid.UUID) (Endpoint, error)
	// Remove deletes an endpoint with its deliveries and their attempts.
	Remove(ctx context.Context, org, id uuid.UUID) error
	Rotate(ctx context.Context, org, id uuid.UUID, r Rotation) (Endpoint, error)
	// Enable turns an endpoint on and clears why and since when it was
	// off or failing.
	Enable(ctx context.Context, org, id uuid.UUID) (Endpoint, error)
	// Update runs fn in one transaction: everything fn does through tx
	// commits together or not at all. An error that a concurrent write
	// caused wraps ErrConflict.
	Update(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is what a command reads and writes inside one Store transaction.
type Tx interface {
	// CountEndpoints returns how many endpoints org has and holds off its
	// other registrations until the transaction ends, so that a limit
	// checked against the count holds.
	CountEndpoints(ctx context.Context, org uuid.UUID) (int, error)
	// AddEndpoint stores an endpoint, enabled.
	AddEndpoint(ctx context.Context, org uuid.UUID, r Registration) (Endpoint, error)
	// EndpointStatus returns the status of one of org's endpoints and
	// holds off its deletion until the transaction ends.
	EndpointStatus(ctx context.Context, org, endpoint uuid.UUID) (string, error)
	// DeliveryEndpointStatus returns the status of the endpoint a delivery
	// goes to: webhook.ErrNotFound when org has no such endpoint,
	// webhook.ErrDeliveryNotFound when the endpoint has no such delivery.
	DeliveryEndpointStatus(ctx context.Context, org, endpoint, delivery uuid.UUID) (string, error)
	// LastSequence returns the highest sequence of the events recorded for
	// a campaign (0 when none).
	LastSequence(ctx context.Context, campaign uuid.UUID) (int, error)
	// AddEvent records an event; a second event with the same campaign and
	// sequence is a conflict.
	AddEvent(ctx context.Context, e Event) error
	// AddDelivery records a pending delivery of an event to an endpoint.
	AddDelivery(ctx context.Context, delivery, endpoint, event uuid.UUID) error
	Queue
}

// Queue is the delivery queue the sender consumes.
type Queue interface {
	// Enqueue queues jobs due now; they are taken once the transaction
	// commits.
	Enqueue(ctx context.Context, jobs ...webhook.Job) error
}

// Service carries out the endpoint commands. Every call is scoped by
// organisation.
type Service struct {
	store Store
}

// New returns the service keeping endpoints in store (required).
func New(store Store) *Service {
	if store == nil {
		panic("webhooks.New: nil Store")
	}
	return &Service{store: store}
}

// Create registers an endpoint and returns it with its secret.
func (s *Service) Create(ctx context.Context, org uuid.UUID, in NewEndpoint) (Endpoint, string, error) {
	secret := NewSecret()
	var e Endpoint
	err := s.store.Update(ctx, func(tx Tx) error {
		n, err := tx.CountEndpoints(ctx, org)
		if err != nil {
			return err
		}
		if n >= MaxEndpoints {
			return ErrLimit
		}
		e, err = tx.AddEndpoint(ctx, org, Registration{ID: uuid.Must(uuid.NewV7()), Secret: secret, NewEndpoint: in})
		return err
	})
	if err != nil {
		return Endpoint{}, "", err
	}
	return e, secret, nil
}

// List returns an organisation's endpoints, oldest first.
func (s *Service) List(ctx context.Context, org uuid.UUID) ([]Endpoint, error) {
	return s.store.List(ctx, org)
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, org, id uuid.UUID) (Endpoint, error) {
	return s.store.Get(ctx, org, id)
}

// Delete removes an endpoint with its deliveries and their attempts; jobs
// still queued for them find nothing and are dropped.
func (s *Service) Delete(ctx context.Context, org, id uuid.UUID) error {
	return s.store.Remove(ctx, org, id)
}

// RotateSecret issues a new secret. The old one keeps signing beside it
// for keepOld (not at all when zero), so receivers that still check the
// old one accept every delivery meanwhile.
func (s *Service) RotateSecret(ctx context.Context, org, id uuid.UUID, keepOld time.Duration) (Endpoint, string, error) {
	r := Rotation{Secret: NewSecret()}
	if keepOld > 0 {
		t := time.Now().Add(keepOld)
		r.KeepPreviousUntil = &t
	}
	e, err := s.store.Rotate(ctx, org, id, r)
	if err != nil {
		return Endpoint{}, "", err
	}
	return e, r.Secret, nil
}

// Enable turns a disabled endpoint back on. Deliveries that failed while
// it was off stay failed; they can be resent one by one.
func (s *Service) Enable(ctx context.Context, org, id uuid.UUID) (Endpoint, error) {
	return s.store.Enable(ctx, org, id)
}

// Resend queues one more attempt of a delivery, now. The endpoint must be
// enabled; the delivery may be in any state.
func (s *Service) Resend(ctx context.Context, org, endpoint, delivery uuid.UUID) error {
	return s.store.Update(ctx, func(tx Tx) error {
		status, err := tx.DeliveryEndpointStatus(ctx, org, endpoint, delivery)
		if err != nil {
			return err
		}
		if status != webhook.Enabled {
			return ErrDisabled
		}
		return tx.Enqueue(ctx, webhook.Job{DeliveryID: delivery, Manual: true})
	})
}

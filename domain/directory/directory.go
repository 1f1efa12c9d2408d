// Package directory holds the records of who may use the service: the
// organisations, their API keys (as administrators see them) and their
// sender IDs. Storing them is an adapter's business (adapters/postgres).
package directory

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// ErrNotFound is what a directory returns for a record it does not hold.
var ErrNotFound = errors.New("not found")

// Organisation is a customer: every campaign, key and balance is one
// organisation's.
type Organisation struct {
	ID        uuid.UUID `json:"org_id"`
	Name      string    `json:"name"`
	Currency  string    `json:"currency"`
	CreatedAt time.Time `json:"created_at"`
}

// Sender is a sender ID an organisation registered (PENDING until an
// administrator approves it).
type Sender struct {
	RemitterID uuid.UUID `json:"remitter_id"`
	OrgID      uuid.UUID `json:"org_id"`
	Sender     string    `json:"sender"`
	Status     string    `json:"status"`
}

// Key is an API key as administrators see it: never the secret, which is
// not stored.
type Key struct {
	KeyID         uuid.UUID `json:"key_id"`
	OrgID         uuid.UUID `json:"org_id"`
	Prefix        string    `json:"prefix"`
	Name          string    `json:"name"`
	Scopes        []string  `json:"scopes"`
	RatePerMinute int       `json:"rate_per_minute"`
	// MessageRatePerSecond is the limit on Send Message.
	MessageRatePerSecond int        `json:"message_rate_per_second"`
	CreatedAt            time.Time  `json:"created_at"`
	RevokedAt            *time.Time `json:"revoked_at"`
}

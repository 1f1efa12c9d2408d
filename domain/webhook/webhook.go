// Package webhook is the vocabulary both sides of webhooks share: the
// statuses of endpoints and deliveries, the job that asks for one attempt
// at a delivery, and how a delivery's id is derived. Endpoint management
// (commands/webhooks), the outbox the campaign projector fills
// (projections/webhooks) and the sender (adapters/webhooks) all speak it.
package webhook

import (
	"errors"

	"github.com/google/uuid"
)

// Endpoint statuses.
const (
	Enabled  = "ENABLED"
	Disabled = "DISABLED"
)

// Delivery statuses.
const (
	Pending   = "PENDING"
	Delivered = "DELIVERED"
	Failed    = "FAILED"
)

// SecretPrefix marks a signing secret, as the Standard Webhooks libraries
// expect it.
const SecretPrefix = "whsec_"

var (
	// ErrNotFound covers a missing endpoint or delivery and another
	// organisation's alike.
	ErrNotFound = errors.New("webhook endpoint not found")
	// ErrDeliveryNotFound is a delivery that is not the endpoint's.
	ErrDeliveryNotFound = errors.New("webhook delivery not found")
)

// Job is one queued attempt at a delivery.
type Job struct {
	DeliveryID uuid.UUID `json:"delivery_id"`
	// Attempt is the number of a scheduled attempt (1 for the first). A job
	// whose delivery has moved on (delivered, or already past this attempt)
	// is dropped, so a stale or repeated job never sends twice.
	Attempt int `json:"attempt,omitempty"`
	// Manual marks a resend asked for through the API: one attempt,
	// whatever the delivery's state, outside the schedule.
	Manual bool `json:"manual,omitempty"`
}

// DeliveryID derives the id of an event's delivery to one endpoint: the
// webhook-id header, the same on every attempt.
func DeliveryID(event, endpoint uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(event, endpoint[:])
}

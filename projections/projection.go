// Package projections holds the read models: each projector is a function
// of decoded events to rows, applied inside a PostgreSQL transaction, and
// each read model's queries sit beside it. Feeding them from the log
// (offsets beside the rows, rebuilds, parking) is adapters/projector's
// business.
package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ziett.co/campaigns/domain/events"
)

// Projection applies a batch of events inside a Postgres transaction.
// Apply must be idempotent (applying an event twice changes nothing) and
// must not depend on the relative order of different shards' events. Its
// statements name tables unqualified: the transaction's search path points
// them at the live generation (see adapters/projector/generation.go).
type Projection interface {
	Name() string
	// Streams are the streams the projection reads.
	Streams() []events.Stream
	Apply(ctx context.Context, tx pgx.Tx, in []events.Message) error
}

// ByCampaign is a Projection whose events commute unless they are about the
// same campaign: only one campaign's events must be applied in log order. A
// replay then spreads a batch over its writers by campaign rather than by
// shard, which keeps them all busy even when one shard holds most of the
// work.
type ByCampaign interface {
	ReplayByCampaign()
}

// PoisonError marks an error an event causes by its content, so that
// applying it again would fail the same way: a projection returns it for an
// event it cannot decode.
type PoisonError struct{ Err error }

func (e *PoisonError) Error() string { return e.Err.Error() }
func (e *PoisonError) Unwrap() error { return e.Err }

// Poison marks err as caused by the event being applied (nil stays nil).
func Poison(err error) error {
	if err == nil {
		return nil
	}
	return &PoisonError{Err: err}
}

// PayloadOf is the event's payload as the struct T its type is registered
// with. The projector runner decodes every payload before Apply and parks
// an event whose payload does not decode, so a mismatch here means an
// event of a version this build does not know: it is poison too.
func PayloadOf[T events.Payload](e events.Envelope) (T, error) {
	p, ok := e.Payload().(T)
	if !ok {
		return p, Poison(fmt.Errorf("%s v%d %s: no %T payload", e.Type, e.Version, e.ID, p))
	}
	return p, nil
}

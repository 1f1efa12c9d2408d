package postgres

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// RegisterUUID teaches a connection's type map to send google/uuid values as
// the 16 bytes of PostgreSQL's binary uuid. Without it pgx only knows them as
// driver.Valuers: each value is formatted as text, and in a []uuid.UUID
// parameter every element first fails a binary plan (an error built and
// thrown away per element) before falling back. The bulk statements of the
// projectors and dispatchers send thousands of ids per batch, so that cost
// was a tenth of the service's CPU.
func RegisterUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{wrapUUID}, m.TryWrapEncodePlanFuncs...)
}

type uuidValue uuid.UUID

func (u uuidValue) UUIDValue() (pgtype.UUID, error) {
	return pgtype.UUID{Bytes: u, Valid: true}, nil
}

type uuidPlan struct{ next pgtype.EncodePlan }

func (p *uuidPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidPlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(uuidValue(value.(uuid.UUID)), buf)
}

func wrapUUID(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if u, ok := value.(uuid.UUID); ok {
		return &uuidPlan{}, uuidValue(u), true
	}
	return nil, nil, false
}

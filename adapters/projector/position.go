package projector

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Positions reads how far a projection has applied one topic: what a
// reader needs to know whether a read model reflects the log up to a
// point (the API's funds check compares the ledger's position with the
// organisation stream's end).
type Positions struct {
	DB         *pgxpool.Pool
	Projection string
	Topic      string
}

// Position is the next offset of the topic's partition the projection
// will apply; every record before it is reflected in its rows. The
// offsets are kept in the live generation's schema; a rebuild that
// switches generations between the lookup and the read drops the old
// schema, so that case is read again.
func (p Positions) Position(ctx context.Context, partition int32) (int64, error) {
	for try := 0; ; try++ {
		var next *int64
		err := p.DB.QueryRow(ctx, `SELECT read_model_next_offset($1, $2, $3)`, p.Projection, p.Topic, partition).Scan(&next)
		var pgErr *pgconn.PgError
		if err != nil && try < 3 && errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			continue
		}
		if err != nil || next == nil {
			return 0, err
		}
		return *next, nil
	}
}

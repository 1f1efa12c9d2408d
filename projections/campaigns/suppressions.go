package campaigns

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Suppression is one number of an organisation's suppression list.
type Suppression struct {
	E164      string    `json:"e164"`
	Source    string    `json:"source"`
	Keyword   *string   `json:"keyword"`
	CreatedAt time.Time `json:"created_at"`
}

// Suppressions lists an organisation's suppression list by number, after
// the number after (all when empty); more reports whether others follow.
func (r Reader) Suppressions(ctx context.Context, org uuid.UUID, after string, limit int) (list []Suppression, more bool, err error) {
	rows, err := r.DB.Query(ctx, `SELECT e164, source, keyword, created_at FROM suppressions
		WHERE org_id = $1 AND e164 > $2 ORDER BY e164 LIMIT $3`, org, after, limit+1)
	if err != nil {
		return nil, false, err
	}
	list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Suppression, error) {
		var s Suppression
		err := row.Scan(&s.E164, &s.Source, &s.Keyword, &s.CreatedAt)
		return s, err
	})
	if err != nil {
		return nil, false, err
	}
	if len(list) > limit {
		return list[:limit], true, nil
	}
	return list, false, nil
}

// IsSuppressed reports whether the number is on the organisation's list.
func (r Reader) IsSuppressed(ctx context.Context, org uuid.UUID, e164 string) (bool, error) {
	var ok bool
	err := r.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions WHERE org_id = $1 AND e164 = $2)`, org, e164).Scan(&ok)
	return ok, err
}

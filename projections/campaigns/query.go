package campaigns

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound covers both a missing campaign and another organisation's:
// callers must not be able to tell them apart.
var ErrNotFound = errors.New("campaign not found")

type Recipients struct {
	Submitted  int `json:"submitted"`
	Valid      int `json:"valid"`
	Invalid    int `json:"invalid"`
	Duplicates int `json:"duplicates"`
}

type Messages struct {
	Total  int `json:"total"`
	Queued int `json:"queued"`
	Sent   int `json:"sent"`
	Failed int `json:"failed"`
}

type Segments struct {
	Encoding   *string  `json:"encoding"`
	PerMessage int      `json:"per_message"`
	Total      int      `json:"total"`
	UCS2Chars  []string `json:"ucs2_chars"`
}

// Cost amounts are integer minor units of Currency.
type Cost struct {
	Currency  string `json:"currency"`
	Estimated int64  `json:"estimated"`
	Debited   int64  `json:"debited"`
	Refunded  int64  `json:"refunded"`
	Net       int64  `json:"net"`
}

type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// View is the body of Retrieve Campaign.
type View struct {
	CampaignID    uuid.UUID           `json:"campaign_id"`
	Name          string              `json:"name"`
	Status        string              `json:"status"`
	ChannelType   string              `json:"channel_type"`
	RemitterID    uuid.UUID           `json:"remitter_id"`
	CountryAlpha2 string              `json:"country_alpha2"`
	CreatedAt     time.Time           `json:"created_at"`
	ProcessedAt   *time.Time          `json:"processed_at"`
	SendingAt     *time.Time          `json:"sending_at"`
	CompletedAt   *time.Time          `json:"completed_at"`
	FailedAt      *time.Time          `json:"failed_at"`
	Recipients    Recipients          `json:"recipients"`
	Messages      Messages            `json:"messages"`
	Progress      float64             `json:"progress"`
	Providers     map[string]Messages `json:"providers"`
	Segments      Segments            `json:"segments"`
	Cost          Cost                `json:"cost"`
	Failure       *Failure            `json:"failure"`
}

// Reader runs the read model's queries.
type Reader struct{ DB *pgxpool.Pool }

// Get reads one campaign of one organisation.
func (r Reader) Get(ctx context.Context, org, id uuid.UUID) (View, error) {
	db := r.DB
	var v View
	var fcode, fmsg *string
	err := db.QueryRow(ctx, `SELECT campaign_id, name, status, channel_type, remitter_id, country_alpha2,
			created_at, processed_at, sending_at, completed_at, failed_at, submitted, valid, invalid, duplicates,
			msg_total, encoding, segments_per_message, segments_total, ucs2_chars, currency,
			cost_estimated, cost_debited, cost_refunded, failure_code, failure_message
		FROM campaigns WHERE campaign_id = $1 AND org_id = $2`, id, org).Scan(
		&v.CampaignID, &v.Name, &v.Status, &v.ChannelType, &v.RemitterID, &v.CountryAlpha2,
		&v.CreatedAt, &v.ProcessedAt, &v.SendingAt, &v.CompletedAt, &v.FailedAt,
		&v.Recipients.Submitted, &v.Recipients.Valid, &v.Recipients.Invalid, &v.Recipients.Duplicates,
		&v.Messages.Total, &v.Segments.Encoding, &v.Segments.PerMessage, &v.Segments.Total, &v.Segments.UCS2Chars,
		&v.Cost.Currency, &v.Cost.Estimated, &v.Cost.Debited, &v.Cost.Refunded, &fcode, &fmsg)
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, ErrNotFound
	}
	if err != nil {
		return View{}, err
	}
	if fcode != nil {
		v.Failure = &Failure{Code: *fcode}
		if fmsg != nil {
			v.Failure.Message = *fmsg
		}
	}
	rows, err := db.Query(ctx, `SELECT provider, status, count(*) FROM messages WHERE campaign_id = $1 GROUP BY provider, status`, id)
	if err != nil {
		return View{}, err
	}
	v.Providers = map[string]Messages{}
	var prov, st string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&prov, &st, &n}, func() error {
		pm := v.Providers[prov]
		switch st {
		case "SENT":
			pm.Sent += n
			v.Messages.Sent += n
		case "FAILED":
			pm.Failed += n
			v.Messages.Failed += n
		}
		pm.Total += n
		v.Providers[prov] = pm
		return nil
	})
	if err != nil {
		return View{}, err
	}
	for k, pm := range v.Providers {
		pm.Queued = pm.Total - pm.Sent - pm.Failed
		v.Providers[k] = pm
	}
	v.Messages.Queued = max(0, v.Messages.Total-v.Messages.Sent-v.Messages.Failed)
	if v.Messages.Total > 0 {
		v.Progress = float64(v.Messages.Sent+v.Messages.Failed) / float64(v.Messages.Total)
	} else if v.Status == StatusCompleted || v.Status == StatusFailed {
		v.Progress = 1
	}
	v.Cost.Net = v.Cost.Debited - v.Cost.Refunded
	return v, nil
}

// Package admin holds the operations an administrator performs: creating
// organisations, keys and sender IDs, and crediting balances. The CLI and
// the dev bootstrap both call these.
package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/pricing"
)

// Appender appends records durably.
type Appender interface {
	Append(ctx context.Context, recs ...*kgo.Record) error
}

// Service performs administrative operations.
type Service struct {
	Dir postgres.Directory
	Log Appender
}

// Credit adds funds to an organisation. The balance lives in the event
// log, so crediting is appending FundsCredited to the organisation's
// stream, never an UPDATE.
func (s Service) Credit(ctx context.Context, org uuid.UUID, amount int64, reference string) (uuid.UUID, error) {
	if amount <= 0 {
		return uuid.Nil, fmt.Errorf("amount must be positive")
	}
	if _, err := s.Dir.Organisation(ctx, org); err != nil {
		return uuid.Nil, fmt.Errorf("organisation %s: %w", org, err)
	}
	id := uuid.Must(uuid.NewV7())
	env, err := events.New(id, org, uuid.Nil, events.FundsCreditedV1{Amount: amount, Currency: pricing.Currency, Reference: reference},
		time.Now(), "", uuid.Nil, "admin")
	if err != nil {
		return uuid.Nil, err
	}
	return id, s.Log.Append(ctx, kafkalog.Encode(kafkalog.OrgEvents, org, env))
}

// Demo is a ready-to-use organisation for local runs.
type Demo struct {
	APIKey     string    `json:"api_key"`
	RemitterID uuid.UUID `json:"remitter_id"`
	OrgID      uuid.UUID `json:"org_id"`
	BaseURL    string    `json:"base_url"`
}

// CreateDemo makes an organisation with credits, an approved sender ID and
// a key that can send and read.
func (s Service) CreateDemo(ctx context.Context, credits int64, scopes []string) (Demo, error) {
	org, err := s.Dir.CreateOrganisation(ctx, "Demo Organisation", pricing.Currency)
	if err != nil {
		return Demo{}, err
	}
	snd, err := s.Dir.RegisterSender(ctx, org.ID, "ZIETT")
	if err != nil {
		return Demo{}, err
	}
	if err := s.Dir.ApproveSender(ctx, snd.RemitterID); err != nil {
		return Demo{}, err
	}
	_, key, err := s.Dir.CreateKey(ctx, org.ID, "demo", scopes)
	if err != nil {
		return Demo{}, err
	}
	if _, err := s.Credit(ctx, org.ID, credits, "demo credits"); err != nil {
		return Demo{}, err
	}
	return Demo{APIKey: key, RemitterID: snd.RemitterID, OrgID: org.ID}, nil
}

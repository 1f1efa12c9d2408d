// Package accept takes a validated campaign request and records it as
// CampaignAccepted, the only step that happens before the 202.
package accept

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/adapters/kafkalog"
	"ziett.co/campaigns/commands/process"
	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/sms"
)

// ErrUnknownSender means the remitter is not an approved sender ID of the
// caller's organisation.
var ErrUnknownSender = errors.New("sender ID not found or not approved")

// Senders resolves approved sender IDs.
type Senders interface {
	ApprovedSender(ctx context.Context, org, remitter uuid.UUID) (string, error)
}

// Appender appends records durably.
type Appender interface {
	Append(ctx context.Context, recs ...*kgo.Record) error
}

// Caller is who is submitting.
type Caller struct {
	OrgID    uuid.UUID
	APIKeyID uuid.UUID
	TraceID  string
}

// Service accepts campaigns.
type Service struct {
	Senders Senders
	Log     Appender
	Rules   process.Rules
	Now     func() time.Time
}

// Accept records the campaign and returns its id. Once it returns nil the
// campaign is in the log and will be processed.
func (s *Service) Accept(ctx context.Context, c Caller, req campaign.Request) (uuid.UUID, error) {
	sender, err := s.Senders.ApprovedSender(ctx, c.OrgID, req.RemitterID)
	if err != nil {
		return uuid.Nil, ErrUnknownSender
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	id := uuid.Must(uuid.NewV7())
	acc := events.CampaignAcceptedV1{
		Name: req.Name, Content: req.Content, ChannelType: req.ChannelType, CountryAlpha2: req.CountryAlpha2,
		RemitterID: req.RemitterID, SenderName: sender, Recipients: req.Recipients, APIKeyID: c.APIKeyID,
		EstimatedCost: Estimate(req, s.Rules.Prices), Currency: pricing.Currency,
	}
	env, err := events.New(uuid.Must(uuid.NewV7()), c.OrgID, id, acc, now(), c.TraceID, uuid.Nil, "api")
	if err != nil {
		return uuid.Nil, err
	}
	if err := s.Log.Append(ctx, kafkalog.Encode(kafkalog.OrgEvents, c.OrgID, env)); err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// Estimate prices a request without normalizing its numbers (that is the
// processor's job, off the request path): every recipient counts, at the
// price of the campaign's default country. The processor's debit can only
// be lower or priced by the real destination.
func Estimate(req campaign.Request, prices pricing.Table) int64 {
	seg := sms.Analyze(req.Content)
	return int64(len(req.Recipients)) * int64(seg.Segments) * prices.UnitPrice(req.CountryAlpha2)
}

package accept

import (
	"context"
	"crypto/sha256"
	"encoding/json"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/campaign"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/problem"
	"ziett.co/campaigns/domain/sms"
)

// ErrUnroutable means no provider carries messages to the number.
var ErrUnroutable = problem.InvalidFields(map[string]string{"recipient": "Value error, no provider delivers to this number."})

// AcceptMessage records a single message (Send Message) and returns its
// id. A single message is a campaign of one recipient (kind "message")
// whose campaign id is the message id: it takes the same path as a
// campaign's messages — the organisation's processor debits it, a
// dispatcher sends it, the completion monitor refunds it if it fails —
// and its delivery goes to the provider's priority queue. The checks and
// the Idempotency-Key work as for a campaign.
func (s *Service) AcceptMessage(ctx context.Context, c Caller, req campaign.MessageRequest, idemKey string) (Result, error) {
	provider := s.Rules.Routes.Provider(req.Number.E164)
	if provider == "" {
		return Result{}, ErrUnroutable
	}
	sender, err := s.Senders.ApprovedSender(ctx, c.OrgID, req.RemitterID)
	if err != nil {
		return Result{}, ErrUnknownSender
	}
	// The route is known, so the estimate is the processor's exact price.
	est := int64(sms.Analyze(req.Content).Segments) * s.Rules.Prices.UnitPriceVia(provider, req.Number.Country)
	acc := events.CampaignAcceptedV1{
		Content: req.Content, ChannelType: req.ChannelType, CountryAlpha2: req.CountryAlpha2,
		RemitterID: req.RemitterID, SenderName: sender, Recipients: []string{req.Recipient}, APIKeyID: c.APIKeyID,
		EstimatedCost: est, Currency: pricing.Currency, Kind: events.KindMessage, Reference: req.Reference,
	}
	if idemKey == "" {
		if err := s.checkFunds(ctx, c.OrgID, est); err != nil {
			return Result{}, err
		}
		id := uuid.Must(uuid.NewV7())
		if err := s.append(ctx, c, id, uuid.Must(uuid.NewV7()), acc); err != nil {
			return Result{}, err
		}
		return Result{CampaignID: id}, nil
	}
	if s.Claims == nil {
		return Result{}, ErrIdempotencyUnsupported
	}
	return s.acceptOnce(ctx, c, idemKey, MessageRequestHash(req), est, acc)
}

// MessageRequestHash identifies a Send Message request for
// Idempotency-Key, as RequestHash does a batch; the two never collide, so
// a key used for one kind is "reused" if sent with the other.
func MessageRequestHash(req campaign.MessageRequest) []byte {
	b, _ := json.Marshal(struct {
		Kind, Content, ChannelType, CountryAlpha2, Recipient, Reference string
		RemitterID                                                      uuid.UUID
	}{events.KindMessage, req.Content, req.ChannelType, req.CountryAlpha2, req.Recipient, req.Reference, req.RemitterID})
	h := sha256.Sum256(b)
	return h[:]
}

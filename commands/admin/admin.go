// Package admin holds the operations an administrator performs: creating
// organisations, keys and sender IDs, and crediting balances. The CLI and
// the dev bootstrap both call these, and so can any other part.
package admin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/directory"
	"ziett.co/campaigns/domain/events"
	"ziett.co/campaigns/domain/pricing"
	"ziett.co/campaigns/domain/text"
)

// Appender appends events to their streams durably.
type Appender interface {
	Append(ctx context.Context, msgs ...events.Message) error
}

// Directory stores organisations, keys and sender IDs (adapters/postgres
// implements it). Reads of a missing record return directory.ErrNotFound.
type Directory interface {
	CreateOrganisation(ctx context.Context, name, currency string) (directory.Organisation, error)
	Organisation(ctx context.Context, id uuid.UUID) (directory.Organisation, error)
	ListOrganisations(ctx context.Context) ([]directory.Organisation, error)
	// CreateKey stores a new key and returns its id and its secret, which
	// is shown once and never stored.
	CreateKey(ctx context.Context, org uuid.UUID, name string, scopes []string) (uuid.UUID, string, error)
	Key(ctx context.Context, id uuid.UUID) (directory.Key, error)
	ListKeys(ctx context.Context, org uuid.UUID) ([]directory.Key, error)
	RevokeKey(ctx context.Context, id uuid.UUID) error
	SetKeyRate(ctx context.Context, id uuid.UUID, perMinute int) error
	SetKeyMessageRate(ctx context.Context, id uuid.UUID, perSecond int) error
	RegisterSender(ctx context.Context, org uuid.UUID, sender string) (directory.Sender, error)
	ApproveSender(ctx context.Context, id uuid.UUID) error
	ListSenders(ctx context.Context, org uuid.UUID) ([]directory.Sender, error)
}

// Service performs administrative operations.
type Service struct {
	Dir Directory
	Log Appender
}

// ErrInvalid wraps every refusal of a bad argument, so callers can tell a
// usage mistake from a failure.
var ErrInvalid = errors.New("invalid argument")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Scopes a key can be given.
var Scopes = []string{apikey.ScopeCampaignSend, apikey.ScopeCampaignRead, apikey.ScopeWebhooksManage, apikey.ScopeMessageSend}

// MaxRatePerMinute bounds a key's limit on the batch endpoint; higher
// would only mean "unlimited", which nothing needs.
const MaxRatePerMinute = 1_000_000

// CreateOrganisation creates an organisation. The service runs in one
// currency (pricing.Currency); currency may be empty for that one.
func (s Service) CreateOrganisation(ctx context.Context, name, currency string) (directory.Organisation, error) {
	name = strings.TrimSpace(name)
	if p := text.Problem(name, text.Line); p != "" {
		return directory.Organisation{}, invalid("organisation name: %s", p)
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > 200 {
		return directory.Organisation{}, invalid("organisation name must have 1 to 200 characters")
	}
	if currency == "" {
		currency = pricing.Currency
	}
	if currency != pricing.Currency {
		return directory.Organisation{}, invalid("currency must be %s, the service's only currency", pricing.Currency)
	}
	return s.Dir.CreateOrganisation(ctx, name, currency)
}

// ListOrganisations lists every organisation.
func (s Service) ListOrganisations(ctx context.Context) ([]directory.Organisation, error) {
	return s.Dir.ListOrganisations(ctx)
}

func (s Service) organisation(ctx context.Context, org uuid.UUID) error {
	_, err := s.Dir.Organisation(ctx, org)
	if errors.Is(err, directory.ErrNotFound) {
		return invalid("organisation %s does not exist", org)
	}
	return err
}

// Credit adds funds to an organisation. The balance lives in the event
// log, so crediting is appending FundsCredited to the organisation's
// stream, never an UPDATE.
func (s Service) Credit(ctx context.Context, org uuid.UUID, amount int64, reference string) (uuid.UUID, error) {
	if amount <= 0 {
		return uuid.Nil, invalid("amount must be a positive number of minor units")
	}
	// The reference is stored by the ledger's read model: text it cannot
	// store must not reach the log.
	if p := text.Problem(reference, text.Line); p != "" {
		return uuid.Nil, invalid("reference: %s", p)
	}
	if err := s.organisation(ctx, org); err != nil {
		return uuid.Nil, err
	}
	id := uuid.Must(uuid.NewV7())
	env, err := events.New(id, org, uuid.Nil, events.FundsCreditedV1{Amount: amount, Currency: pricing.Currency, Reference: reference},
		time.Now(), "", uuid.Nil, "admin")
	if err != nil {
		return uuid.Nil, err
	}
	return id, s.Log.Append(ctx, events.OnOrgStream(env))
}

// NewKey is a freshly created key with its secret, which exists only here:
// the directory keeps a hash.
type NewKey struct {
	directory.Key
	Secret string `json:"api_key"`
}

// CreateKey issues a key with scopes; ratePerMinute 0 keeps the default
// limit of the batch endpoint.
func (s Service) CreateKey(ctx context.Context, org uuid.UUID, name string, scopes []string, ratePerMinute int) (NewKey, error) {
	if len(scopes) == 0 {
		return NewKey{}, invalid("a key needs at least one scope (%s)", strings.Join(Scopes, ", "))
	}
	var uniq []string
	for _, sc := range scopes {
		if !slices.Contains(Scopes, sc) {
			return NewKey{}, invalid("unknown scope %q (known: %s)", sc, strings.Join(Scopes, ", "))
		}
		if !slices.Contains(uniq, sc) {
			uniq = append(uniq, sc)
		}
	}
	if ratePerMinute < 0 || ratePerMinute > MaxRatePerMinute {
		return NewKey{}, invalid("rate must be between 1 and %d requests per minute", MaxRatePerMinute)
	}
	if p := text.Problem(name, text.Line); p != "" {
		return NewKey{}, invalid("key name: %s", p)
	}
	if utf8.RuneCountInString(name) > 200 {
		return NewKey{}, invalid("key name must have at most 200 characters")
	}
	if err := s.organisation(ctx, org); err != nil {
		return NewKey{}, err
	}
	id, secret, err := s.Dir.CreateKey(ctx, org, name, uniq)
	if err != nil {
		return NewKey{}, err
	}
	if ratePerMinute > 0 {
		if err := s.Dir.SetKeyRate(ctx, id, ratePerMinute); err != nil {
			return NewKey{}, err
		}
	}
	k, err := s.Dir.Key(ctx, id)
	return NewKey{Key: k, Secret: secret}, err
}

// RevokeKey revokes a key; the next request with it is refused.
func (s Service) RevokeKey(ctx context.Context, id uuid.UUID) (directory.Key, error) {
	if err := s.Dir.RevokeKey(ctx, id); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Key{}, invalid("key %s does not exist or is already revoked", id)
		}
		return directory.Key{}, err
	}
	return s.Dir.Key(ctx, id)
}

// SetKeyRate changes a key's limit on the batch endpoint, from the next
// request on.
func (s Service) SetKeyRate(ctx context.Context, id uuid.UUID, perMinute int) (directory.Key, error) {
	if perMinute < 1 || perMinute > MaxRatePerMinute {
		return directory.Key{}, invalid("rate must be between 1 and %d requests per minute", MaxRatePerMinute)
	}
	if err := s.Dir.SetKeyRate(ctx, id, perMinute); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Key{}, invalid("key %s does not exist", id)
		}
		return directory.Key{}, err
	}
	return s.Dir.Key(ctx, id)
}

// MaxMessageRatePerSecond bounds a key's limit on Send Message.
const MaxMessageRatePerSecond = 100_000

// SetKeyMessageRate changes a key's limit on Send Message (POST
// /c/v1/messages), in requests per second, from the next request on.
func (s Service) SetKeyMessageRate(ctx context.Context, id uuid.UUID, perSecond int) (directory.Key, error) {
	if perSecond < 1 || perSecond > MaxMessageRatePerSecond {
		return directory.Key{}, invalid("rate must be between 1 and %d requests per second", MaxMessageRatePerSecond)
	}
	if err := s.Dir.SetKeyMessageRate(ctx, id, perSecond); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Key{}, invalid("key %s does not exist", id)
		}
		return directory.Key{}, err
	}
	return s.Dir.Key(ctx, id)
}

// ListKeys lists an organisation's keys, revoked ones included.
func (s Service) ListKeys(ctx context.Context, org uuid.UUID) ([]directory.Key, error) {
	if err := s.organisation(ctx, org); err != nil {
		return nil, err
	}
	return s.Dir.ListKeys(ctx, org)
}

// senderPattern is what handsets display as an SMS sender: up to 11
// letters, digits and spaces (an alphanumeric sender), or a phone number
// of up to 15 digits.
var senderPattern = regexp.MustCompile(`^(?:[A-Za-z0-9][A-Za-z0-9 ]{0,10}|\+?[0-9]{1,15})$`)

// RegisterSender registers a sender ID, PENDING until approved.
func (s Service) RegisterSender(ctx context.Context, org uuid.UUID, sender string) (directory.Sender, error) {
	if !senderPattern.MatchString(sender) {
		return directory.Sender{}, invalid("sender %q must be 1 to 11 letters, digits or spaces, or a number of up to 15 digits", sender)
	}
	if err := s.organisation(ctx, org); err != nil {
		return directory.Sender{}, err
	}
	return s.Dir.RegisterSender(ctx, org, sender)
}

// ApproveSender approves a sender ID, so campaigns may use it.
func (s Service) ApproveSender(ctx context.Context, remitter uuid.UUID) error {
	err := s.Dir.ApproveSender(ctx, remitter)
	if errors.Is(err, directory.ErrNotFound) {
		return invalid("sender ID %s does not exist", remitter)
	}
	return err
}

// ListSenders lists an organisation's sender IDs.
func (s Service) ListSenders(ctx context.Context, org uuid.UUID) ([]directory.Sender, error) {
	if err := s.organisation(ctx, org); err != nil {
		return nil, err
	}
	return s.Dir.ListSenders(ctx, org)
}

// Demo is a ready-to-use organisation for local runs.
type Demo struct {
	APIKey     string    `json:"api_key"`
	RemitterID uuid.UUID `json:"remitter_id"`
	OrgID      uuid.UUID `json:"org_id"`
	BaseURL    string    `json:"base_url"`
	// KeyID lets a caller adjust the key (its rate limit, say); demo.json
	// keeps its published shape without it.
	KeyID uuid.UUID `json:"-"`
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
	keyID, key, err := s.Dir.CreateKey(ctx, org.ID, "demo", scopes)
	if err != nil {
		return Demo{}, err
	}
	if _, err := s.Credit(ctx, org.ID, credits, "demo credits"); err != nil {
		return Demo{}, err
	}
	return Demo{APIKey: key, RemitterID: snd.RemitterID, OrgID: org.ID, KeyID: keyID}, nil
}

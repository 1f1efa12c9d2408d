package events

import "github.com/google/uuid"

// Money amounts are integer minor units of Currency (e.g. cêntimos of AOA):
// floating point never touches a balance.

type CampaignAcceptedV1 struct {
	Name          string    `json:"name"`
	Content       string    `json:"content"`
	ChannelType   string    `json:"channel_type"`
	CountryAlpha2 string    `json:"country_alpha2"`
	RemitterID    uuid.UUID `json:"remitter_id"`
	SenderName    string    `json:"sender_name"`
	Recipients    []string  `json:"recipients"`
	APIKeyID      uuid.UUID `json:"api_key_id"`
	// Estimate is what the API expected the campaign to cost when it accepted
	// it; the processor computes the real cost from normalized recipients.
	EstimatedCost int64  `json:"estimated_cost"`
	Currency      string `json:"currency"`
}

func (CampaignAcceptedV1) EventType() Type { return CampaignAccepted }

// RecipientCounts summarises what normalization made of the submitted list.
type RecipientCounts struct {
	Submitted  int `json:"submitted"`
	Valid      int `json:"valid"`
	Invalid    int `json:"invalid"`
	Duplicates int `json:"duplicates"`
}

// Recipient is one submitted number after normalization. Invalid and
// duplicate entries are kept (with Reason) so the audit trail explains
// every submitted number.
type Recipient struct {
	Index     int       `json:"index"`
	Input     string    `json:"input"`
	E164      string    `json:"e164,omitempty"`
	Country   string    `json:"country,omitempty"`
	Provider  string    `json:"provider,omitempty"`
	UnitPrice int64     `json:"unit_price,omitempty"`
	Cost      int64     `json:"cost,omitempty"`
	MessageID uuid.UUID `json:"message_id,omitzero"`
	// Reason is set for recipients that get no message.
	Reason string `json:"reason,omitempty"`
}

type CampaignProcessedV1 struct {
	Recipients         RecipientCounts `json:"recipients"`
	Encoding           string          `json:"encoding"`
	SegmentsPerMessage int             `json:"segments_per_message"`
	UCS2Chars          []string        `json:"ucs2_chars,omitempty"`
	TotalSegments      int             `json:"total_segments"`
	Cost               int64           `json:"cost"`
	Currency           string          `json:"currency"`
	ByProvider         map[string]int  `json:"by_provider"`
	Items              []Recipient     `json:"items"`
}

func (CampaignProcessedV1) EventType() Type { return CampaignProcessed }

type FundsDebitedV1 struct {
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency"`
	BalanceAfter int64  `json:"balance_after"`
}

func (FundsDebitedV1) EventType() Type { return FundsDebited }

type FundsCreditedV1 struct {
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference,omitempty"`
}

func (FundsCreditedV1) EventType() Type { return FundsCredited }

type FundsRefundedV1 struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Messages int    `json:"messages"`
}

func (FundsRefundedV1) EventType() Type { return FundsRefunded }

type MessagesEnqueuedV1 struct {
	Total      int            `json:"total"`
	ByProvider map[string]int `json:"by_provider"`
}

func (MessagesEnqueuedV1) EventType() Type { return MessagesEnqueued }

type CampaignCompletedV1 struct {
	Total    int   `json:"total"`
	Sent     int   `json:"sent"`
	Failed   int   `json:"failed"`
	Refunded int64 `json:"refunded"`
}

func (CampaignCompletedV1) EventType() Type { return CampaignCompleted }

type CampaignFailedV1 struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (CampaignFailedV1) EventType() Type { return CampaignFailed }

// MessageOutcome is shared by MessageSent and MessageFailed. It repeats the
// campaign's message count so that the completion monitor can decide from the
// message-event partition alone, without joining another topic.
type MessageOutcome struct {
	MessageID     uuid.UUID `json:"message_id"`
	Index         int       `json:"index"`
	Provider      string    `json:"provider"`
	CampaignTotal int       `json:"campaign_total"`
	Cost          int64     `json:"cost"`
	Currency      string    `json:"currency"`
	Attempts      int       `json:"attempts"`
	ProviderRef   string    `json:"provider_ref,omitempty"`
	ErrorCode     string    `json:"error_code,omitempty"`
	Error         string    `json:"error,omitempty"`
}

type MessageSentV1 struct{ MessageOutcome }

func (MessageSentV1) EventType() Type { return MessageSent }

type MessageFailedV1 struct{ MessageOutcome }

func (MessageFailedV1) EventType() Type { return MessageFailed }

// Delivery is one message on a provider's queue. It is a work item, not an
// event: the queue may expire, the outcome events are the record.
type Delivery struct {
	MessageID     uuid.UUID `json:"message_id"`
	CampaignID    uuid.UUID `json:"campaign_id"`
	OrgID         uuid.UUID `json:"org_id"`
	Index         int       `json:"index"`
	To            string    `json:"to"`
	Sender        string    `json:"sender"`
	Content       string    `json:"content"`
	Segments      int       `json:"segments"`
	Cost          int64     `json:"cost"`
	Currency      string    `json:"currency"`
	Provider      string    `json:"provider"`
	CampaignTotal int       `json:"campaign_total"`
	TraceID       string    `json:"trace_id,omitempty"`
	CausationID   uuid.UUID `json:"causation_id"`
}

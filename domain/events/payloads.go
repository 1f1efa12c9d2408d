package events

import (
	"time"

	"github.com/google/uuid"
)

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
	// SendAt, when set, holds the campaign until then (schedule).
	SendAt *time.Time `json:"send_at,omitempty"`
	// Kind is empty for a campaign and KindMessage for a single message
	// (Send Message): a campaign of one recipient whose campaign id is the
	// message's id and whose delivery takes the provider's priority queue.
	Kind string `json:"kind,omitempty"`
	// Reference is the client's own id of a single message, echoed back.
	Reference string `json:"reference,omitempty"`
}

func (CampaignAcceptedV1) EventType() Type { return CampaignAccepted }

// KindMessage marks a CampaignAccepted that is a single message.
const KindMessage = "message"

// IsMessage reports whether the accepted request is a single message.
func (c CampaignAcceptedV1) IsMessage() bool { return c.Kind == KindMessage }

// RecipientCounts summarises what normalization made of the submitted list.
type RecipientCounts struct {
	Submitted  int `json:"submitted"`
	Valid      int `json:"valid"`
	Invalid    int `json:"invalid"`
	Duplicates int `json:"duplicates"`
	// Suppressed are valid numbers on the organisation's suppression list.
	Suppressed int `json:"suppressed,omitempty"`
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
	// Cancelled counts messages never sent because the campaign was
	// cancelled (refunded with the failed ones).
	Cancelled int `json:"cancelled,omitempty"`
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
	// Requeued counts how often the message was held back (its campaign
	// paused) and put back on its queue.
	Requeued int `json:"requeued,omitempty"`
	// Priority marks a single message (Send Message): it travels on the
	// provider's priority queue, served before any waiting campaign
	// message.
	Priority bool `json:"priority,omitempty"`
}

// Receipt statuses of a message, after its operator's delivery receipts.
// DELIVERED is MessageDelivered; the others are MessageUndelivered.
const (
	ReceiptDelivered   = "DELIVERED"
	ReceiptUndelivered = "UNDELIVERED"
	ReceiptExpired     = "EXPIRED"
	ReceiptRejected    = "REJECTED"
)

// ReceiptStatus maps an SMPP receipt's stat field to a receipt status:
// DELIVRD is DELIVERED, UNDELIV UNDELIVERED, EXPIRED EXPIRED, REJECTD
// REJECTED, and anything else (DELETED, UNKNOWN, ACCEPTD, ENROUTE…) is
// UNDELIVERED, the raw stat being kept beside it.
func ReceiptStatus(stat string) string {
	switch stat {
	case "DELIVRD":
		return ReceiptDelivered
	case "EXPIRED":
		return ReceiptExpired
	case "REJECTD":
		return ReceiptRejected
	}
	return ReceiptUndelivered
}

// ReceiptSeverity orders receipt statuses from best to worst, the rule that
// decides a multi-part message from its parts' receipts: the message's
// status is its worst part's. A message is DELIVERED only when every part
// was; a part the operator refused (REJECTED) outweighs one it could not
// deliver (UNDELIVERED), which outweighs one that ran out of validity
// (EXPIRED).
func ReceiptSeverity(status string) int {
	switch status {
	case ReceiptDelivered:
		return 0
	case ReceiptExpired:
		return 1
	case ReceiptUndelivered:
		return 2
	case ReceiptRejected:
		return 3
	}
	return 2
}

// MessageReceipt is shared by MessageDelivered and MessageUndelivered: the
// decision over every part's delivery receipt. Stat and Err are the raw
// fields of the part that decided it (the worst one), Raw its receipt text.
type MessageReceipt struct {
	MessageID uuid.UUID `json:"message_id"`
	Index     int       `json:"index"`
	Provider  string    `json:"provider"`
	// Status is DELIVERED, UNDELIVERED, EXPIRED or REJECTED.
	Status string `json:"status"`
	Parts  int    `json:"parts"`
	// ProviderRefs are the operator's ids of the parts, in part order.
	ProviderRefs []string `json:"provider_refs"`
	Stat         string   `json:"stat"`
	Err          string   `json:"err"`
	Raw          string   `json:"raw,omitempty"`
	// DoneAt is the operator's done date of the deciding part (when it
	// reached its final state), in UTC; its clock, to the minute.
	DoneAt time.Time `json:"done_at"`
}

type MessageDeliveredV1 struct{ MessageReceipt }

func (MessageDeliveredV1) EventType() Type { return MessageDelivered }

type MessageUndeliveredV1 struct{ MessageReceipt }

func (MessageUndeliveredV1) EventType() Type { return MessageUndelivered }

// InboundMessageReceivedV1 is a mobile-originated SMS to one of the
// organisation's senders (the reply path that opt-outs will use).
type InboundMessageReceivedV1 struct {
	Provider   string    `json:"provider"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	RemitterID uuid.UUID `json:"remitter_id"`
	ReceivedAt time.Time `json:"received_at"`
}

func (InboundMessageReceivedV1) EventType() Type { return InboundMessageReceived }

// OutcomeEvent is an event that ends a message at its provider: sent,
// failed, or cancelled before it was handed over.
type OutcomeEvent interface {
	Payload
	Outcome() MessageOutcome
}

// Outcome is the outcome an OutcomeEvent carries.
func (o MessageOutcome) Outcome() MessageOutcome { return o }

// ReceiptEvent is an event that records what the operator finally made of
// a sent message: delivered or not.
type ReceiptEvent interface {
	Payload
	DeliveryReceipt() MessageReceipt
}

// DeliveryReceipt is the receipt a ReceiptEvent carries.
func (r MessageReceipt) DeliveryReceipt() MessageReceipt { return r }

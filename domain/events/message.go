package events

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Stream names one of the logs the stages read and append to. Which topic
// holds a stream, and which key orders it, is the log adapter's business;
// the application speaks of streams only.
type Stream uint8

const (
	// OrgStream holds, per organisation, its campaigns' lifecycle and its
	// balance: one shard has all of one organisation's events in order.
	OrgStream Stream = iota + 1
	// MessageStream holds, per campaign, its messages' outcomes and the
	// control events the dispatchers and the completion monitor act on.
	MessageStream
	// Deliveries are the providers' work queues: one Delivery per message
	// to hand over, not events (see Delivery).
	Deliveries
	// Receipts holds the operators' delivery receipts as received, per
	// campaign, for the receipt stage to decide on.
	Receipts
)

func (s Stream) String() string {
	switch s {
	case OrgStream:
		return "org"
	case MessageStream:
		return "message"
	case Deliveries:
		return "deliveries"
	case Receipts:
		return "receipts"
	}
	return fmt.Sprintf("stream(%d)", uint8(s))
}

// Position is where a consumed message sat in its log: a shard (partition)
// of a named log, an offset within it, and the time the log recorded it.
// Stages use it as an opaque identity (a claim, a per-shard state) and as
// a clock that replays identically; they never produce it.
type Position struct {
	Log    string
	Shard  int32
	Offset int64
	Time   time.Time
}

// Message is one item a stage consumes or produces: an event on the
// organisation or message stream, a delivery on a provider's queue, or a
// raw receipt. Exactly the field its Stream names is set.
type Message struct {
	Stream Stream
	// At is set on consumed messages only.
	At    Position
	Event Envelope
	// Delivery and Receipt are pointers, nil on the event streams: a
	// message is then a third of the size, which matters for batches of
	// thousands held between decoding and committing.
	Delivery *Delivery
	Receipt  *Receipt
}

// OnOrgStream is e appended to its organisation's stream.
func OnOrgStream(e Envelope) Message { return Message{Stream: OrgStream, Event: e} }

// OnMessageStream is e appended to its campaign's message stream.
func OnMessageStream(e Envelope) Message { return Message{Stream: MessageStream, Event: e} }

// ToDeliver is d put on its provider's queue (its priority queue for a
// single message).
func ToDeliver(d Delivery) Message { return Message{Stream: Deliveries, Delivery: &d} }

// OfReceipt is r appended to the receipts stream.
func OfReceipt(r Receipt) Message { return Message{Stream: Receipts, Receipt: &r} }

// Receipt is one delivery receipt as an SMSC sent it, matched to the
// message part it is about. Like Delivery it is a work item, not an event:
// the receipt stage decides one MessageDelivered or MessageUndelivered per
// message from a message's receipts.
type Receipt struct {
	Provider   string    `json:"provider"`
	Ref        string    `json:"ref"`
	MessageID  uuid.UUID `json:"message_id"`
	CampaignID uuid.UUID `json:"campaign_id"`
	OrgID      uuid.UUID `json:"org_id"`
	Index      int       `json:"index"`
	// Part is the part's position (0-based) among Parts.
	Part  int    `json:"part"`
	Parts int    `json:"parts"`
	Stat  string `json:"stat"`
	Err   string `json:"err"`
	// Done is the receipt's done date (zero when it had none).
	Done       time.Time `json:"done,omitzero"`
	Raw        string    `json:"raw,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// Bounds of a receipt's fields: a message index within a campaign, and
// the parts of one concatenated message (an SMPP UDH counts them in one
// octet).
const (
	MaxReceiptIndex = 1 << 20
	MaxReceiptParts = 255
)

// Validate refuses a receipt no message could have: without ids, or with
// a part outside its message.
func (r Receipt) Validate() error {
	if r.MessageID == uuid.Nil || r.CampaignID == uuid.Nil || r.Parts < 1 || r.Part < 0 || r.Part >= r.Parts ||
		r.Index < 0 || r.Index >= MaxReceiptIndex || r.Parts > MaxReceiptParts {
		return fmt.Errorf("malformed receipt")
	}
	return nil
}

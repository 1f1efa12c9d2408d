package events

import "time"

// Events of a campaign's schedule and of its customer's control commands.
const (
	// CampaignScheduled: the processor holds an accepted campaign until its
	// send_at (org stream).
	CampaignScheduled Type = "CampaignScheduled"
	// CampaignReleased: a scheduled campaign's send_at has come; the
	// processor processes it now (org stream). Appending it twice is
	// harmless: a campaign is processed once.
	CampaignReleased Type = "CampaignReleased"
	// CampaignPaused and CampaignResumed: the customer held or released the
	// campaign's unsent messages (message stream, keyed by campaign).
	CampaignPaused  Type = "CampaignPaused"
	CampaignResumed Type = "CampaignResumed"
	// CampaignCancelled: the customer cancelled the campaign. On the org
	// stream for a campaign still scheduled (the processor drops it); on
	// the message stream once it was processed (unsent messages are
	// cancelled and refunded).
	CampaignCancelled Type = "CampaignCancelled"
	// MessageHeld: a dispatcher did not send a message because its
	// campaign was paused; the completion monitor keeps it and puts it back
	// on its queue on resume (message stream).
	MessageHeld Type = "MessageHeld"
	// MessageCancelled: a message that was never handed to a provider
	// because its campaign was cancelled; it is refunded like a failure
	// (message stream).
	MessageCancelled Type = "MessageCancelled"
)

type CampaignScheduledV1 struct {
	SendAt time.Time `json:"send_at"`
}

func (CampaignScheduledV1) EventType() Type { return CampaignScheduled }

type CampaignReleasedV1 struct {
	ReleasedAt time.Time `json:"released_at"`
}

func (CampaignReleasedV1) EventType() Type { return CampaignReleased }

// ControlV1 is the body of CampaignPaused, CampaignResumed and
// CampaignCancelled: who asked.
type ControlV1 struct {
	APIKeyID string `json:"api_key_id,omitempty"`
}

type CampaignPausedV1 struct{ ControlV1 }

func (CampaignPausedV1) EventType() Type { return CampaignPaused }

type CampaignResumedV1 struct{ ControlV1 }

func (CampaignResumedV1) EventType() Type { return CampaignResumed }

type CampaignCancelledV1 struct{ ControlV1 }

func (CampaignCancelledV1) EventType() Type { return CampaignCancelled }

// MessageHeldV1 carries the whole delivery, so that resuming can put it
// back on its queue exactly as it was.
type MessageHeldV1 struct {
	Delivery Delivery `json:"delivery"`
}

func (MessageHeldV1) EventType() Type { return MessageHeld }

type MessageCancelledV1 struct{ MessageOutcome }

func (MessageCancelledV1) EventType() Type { return MessageCancelled }

// Consent: an organisation's suppression list (org stream).
const (
	// NumberSuppressed: the organisation sends nothing more to the number
	// (a stop keyword from it, or the customer's own list).
	NumberSuppressed Type = "NumberSuppressed"
	// NumberUnsuppressed lifts it (a start keyword, or the customer).
	NumberUnsuppressed Type = "NumberUnsuppressed"
)

// Sources of a suppression change.
const (
	SuppressionByKeyword = "keyword"
	SuppressionByAPI     = "api"
)

type SuppressionV1 struct {
	E164   string `json:"e164"`
	Source string `json:"source"`
	// Keyword is the reply that caused it, when Source is keyword.
	Keyword string `json:"keyword,omitempty"`
}

type NumberSuppressedV1 struct{ SuppressionV1 }

func (NumberSuppressedV1) EventType() Type { return NumberSuppressed }

type NumberUnsuppressedV1 struct{ SuppressionV1 }

func (NumberUnsuppressedV1) EventType() Type { return NumberUnsuppressed }

package events

import (
	"fmt"
	"reflect"
	"sort"
)

// Kind is one registered event: a type at a version, the payload struct it
// carries and the JSON Schema (in schemas/events) that describes it. The
// registry is the one list of what the log may hold; the log codec and the
// metrics read event types through it, and a test checks it against the
// schema files.
type Kind struct {
	Type    Type
	Version int
	payload reflect.Type
}

// Schema is the file name of the kind's JSON Schema in schemas/events.
func (k Kind) Schema() string { return fmt.Sprintf("%s.v%d.json", k.Type, k.Version) }

// New returns a pointer to a zero payload of the kind, to decode into.
func (k Kind) New() Payload { return reflect.New(k.payload).Interface().(Payload) }

type kindKey struct {
	t Type
	v int
}

var registry = map[kindKey]Kind{}

// register records the payload p as version v of its type.
func register(v int, p Payload) {
	k := Kind{Type: p.EventType(), Version: v, payload: reflect.TypeOf(p)}
	key := kindKey{k.Type, v}
	if _, dup := registry[key]; dup {
		panic(fmt.Sprintf("events: %s v%d registered twice", k.Type, v))
	}
	registry[key] = k
}

func init() {
	for _, p := range []Payload{
		CampaignAcceptedV1{}, CampaignProcessedV1{}, FundsDebitedV1{}, MessagesEnqueuedV1{},
		CampaignCompletedV1{}, CampaignFailedV1{}, FundsCreditedV1{}, FundsRefundedV1{},
		MessageSentV1{}, MessageFailedV1{}, MessageDeliveredV1{}, MessageUndeliveredV1{},
		InboundMessageReceivedV1{},
		CampaignScheduledV1{}, CampaignReleasedV1{}, CampaignPausedV1{}, CampaignResumedV1{},
		CampaignCancelledV1{}, MessageHeldV1{}, MessageCancelledV1{},
		NumberSuppressedV1{}, NumberUnsuppressedV1{},
	} {
		register(1, p)
	}
}

// Lookup finds the kind registered for t at version v.
func Lookup(t Type, v int) (Kind, bool) {
	k, ok := registry[kindKey{t, v}]
	return k, ok
}

// Kinds lists every registered kind, by type then version.
func Kinds() []Kind {
	out := make([]Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// Payload is the event's typed payload, a value of the struct its type
// and version are registered with (a FundsDebitedV1 for a FundsDebited
// v1). New sets it, and so does DecodePayload, which the log adapter calls
// for every event it hands to a stage or a projector. It is nil for a type
// this build does not know, and for an envelope whose payload was never
// decoded.
func (e Envelope) Payload() Payload { return e.payload }

// DecodePayload decodes Data through the registry and keeps the result as
// Payload. A type this build does not know is not an error (a newer
// writer's event): its Payload stays nil, and readers skip it.
func (e *Envelope) DecodePayload() error {
	k, ok := Lookup(e.Type, e.Version)
	if !ok {
		return nil
	}
	p := k.New()
	if err := e.Decode(p); err != nil {
		return fmt.Errorf("event %s (%s v%d): %w", e.ID, e.Type, e.Version, err)
	}
	e.payload = reflect.ValueOf(p).Elem().Interface().(Payload)
	return nil
}

package kafkalog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	fastjson "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/domain/events"
)

// Records follow the CloudEvents Kafka protocol binding in binary mode: the
// value is the JSON payload and the attributes are ce_* headers, so standard
// tools (kcat, CloudEvents SDKs) can read the log without our code.
const (
	hSpec        = "ce_specversion"
	hID          = "ce_id"
	hType        = "ce_type"
	hSource      = "ce_source"
	hTime        = "ce_time"
	hSubject     = "ce_subject"
	hContentType = "content-type"
	hOrg         = "ce_orgid"
	hCampaign    = "ce_campaignid"
	hTrace       = "ce_traceid"
	hCausation   = "ce_causationid"

	typePrefix = "co.ziett.campaigns."
)

// Encode turns an event into a record on topic, keyed by key. Every message
// outcome passes through here, so the header values are appended into one
// buffer (one allocation, not one per header and id).
func Encode(topic string, key uuid.UUID, e events.Envelope) *kgo.Record {
	buf := make([]byte, 0, 384)
	var spans [11]struct {
		key        string
		start, end int
	}
	n := 0
	mark := func(k string, start int) {
		spans[n].key, spans[n].start, spans[n].end = k, start, len(buf)
		n++
	}
	str := func(k, v string) { start := len(buf); buf = append(buf, v...); mark(k, start) }
	id := func(k, prefix string, u uuid.UUID) {
		start := len(buf)
		buf = append(buf, prefix...)
		buf = appendUUID(buf, u)
		mark(k, start)
	}
	str(hSpec, "1.0")
	id(hID, "", e.ID)
	start := len(buf)
	buf = append(append(append(append(buf, typePrefix...), e.Type...), ".v"...), strconv.Itoa(e.Version)...)
	mark(hType, start)
	str(hSource, "/ziett/"+e.Source)
	start = len(buf)
	buf = e.OccurredAt.UTC().AppendFormat(buf, time.RFC3339Nano)
	mark(hTime, start)
	str(hContentType, "application/json")
	id(hOrg, "", e.OrgID)
	if e.CampaignID != uuid.Nil {
		id(hCampaign, "", e.CampaignID)
		id(hSubject, "campaigns/", e.CampaignID)
	}
	if e.TraceID != "" {
		str(hTrace, e.TraceID)
	}
	if e.CausationID != uuid.Nil {
		id(hCausation, "", e.CausationID)
	}
	hs := make([]kgo.RecordHeader, n)
	for i, sp := range spans[:n] {
		hs[i] = kgo.RecordHeader{Key: sp.key, Value: buf[sp.start:sp.end:sp.end]}
	}
	return &kgo.Record{Topic: topic, Key: recordKey(key), Value: e.Data, Headers: hs}
}

// appendUUID appends the text form of u (what u.String returns).
func appendUUID(buf []byte, u uuid.UUID) []byte {
	var t [36]byte
	hex := "0123456789abcdef"
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			t[j] = '-'
			j++
		}
		t[j], t[j+1] = hex[b>>4], hex[b&0x0f]
		j += 2
	}
	return append(buf, t[:]...)
}

// Decode reads an event back from a record written by Encode.
func Decode(r *kgo.Record) (events.Envelope, error) {
	var e events.Envelope
	var err error
	for _, h := range r.Headers {
		v := h.Value
		switch h.Key {
		case hID:
			e.ID, err = uuid.ParseBytes(v)
		case hType:
			e.Type, e.Version, err = parseCEType(string(v))
		case hSource:
			if len(v) > len("/ziett/") {
				e.Source = string(v[len("/ziett/"):])
			}
		case hTime:
			e.OccurredAt, err = time.Parse(time.RFC3339Nano, string(v))
		case hOrg:
			e.OrgID, err = uuid.ParseBytes(v)
		case hCampaign:
			e.CampaignID, err = uuid.ParseBytes(v)
		case hTrace:
			e.TraceID = string(v)
		case hCausation:
			e.CausationID, err = uuid.ParseBytes(v)
		}
		if err != nil {
			return e, fmt.Errorf("record %s/%d@%d: header %s: %w", r.Topic, r.Partition, r.Offset, h.Key, err)
		}
	}
	if e.Type == "" || e.ID == uuid.Nil {
		return e, fmt.Errorf("record %s/%d@%d is not an event", r.Topic, r.Partition, r.Offset)
	}
	e.Data = r.Value
	return e, nil
}

// CampaignHeader is the text of the campaign id a record is about, without
// decoding the record, or nil for a record about no campaign.
func CampaignHeader(r *kgo.Record) []byte {
	for _, h := range r.Headers {
		if h.Key == hCampaign {
			return h.Value
		}
	}
	return nil
}

func parseCEType(v string) (events.Type, int, error) {
	if len(v) <= len(typePrefix) || v[:len(typePrefix)] != typePrefix {
		return "", 0, fmt.Errorf("unknown event type %q", v)
	}
	rest := v[len(typePrefix):]
	for i := len(rest) - 1; i > 0; i-- {
		if rest[i] == '.' && i+2 <= len(rest) && rest[i+1] == 'v' {
			n, err := strconv.Atoi(rest[i+2:])
			if err != nil {
				return "", 0, fmt.Errorf("bad version in event type %q", v)
			}
			return events.Type(rest[:i]), n, nil
		}
	}
	return "", 0, fmt.Errorf("event type %q has no version", v)
}

// EncodeDelivery puts a message on its provider's queue (its priority
// queue for a single message), keyed by message so a provider's
// partitions spread evenly over its dispatchers.
func EncodeDelivery(d events.Delivery) (*kgo.Record, error) {
	v, err := fastjson.Marshal(d) // as events' payloads; TestDeliveryEncodingIsStandard
	if err != nil {
		return nil, err
	}
	topic := DeliveryTopic(d.Provider)
	if d.Priority {
		topic = PriorityDeliveryTopic(d.Provider)
	}
	return &kgo.Record{Topic: topic, Key: recordKey(d.MessageID), Value: v}, nil
}

// DecodeDelivery reads a record written by EncodeDelivery.
func DecodeDelivery(r *kgo.Record) (events.Delivery, error) {
	var d events.Delivery
	err := fastjson.Unmarshal(r.Value, &d) // see events.Envelope.Decode
	return d, err
}

// recordKey is the key of records about id: its text form, so the log reads
// naturally in any Kafka tool (kcat -K) and partitioning by key is the same
// for every client that hashes the key bytes.
func recordKey(id uuid.UUID) []byte { return []byte(id.String()) }

// EncodeMessage is the record of a stage's or a command's output: the
// stream picks the topic and the key (an organisation's events by
// organisation, a campaign's message events and receipts by campaign, a
// delivery by message on its provider's queue).
func EncodeMessage(m events.Message) (*kgo.Record, error) {
	switch m.Stream {
	case events.OrgStream, events.MessageStream:
		// Only registered events are written: a reader of the log can
		// then find every event's payload and schema in the registry.
		if _, ok := events.Lookup(m.Event.Type, m.Event.Version); !ok {
			return nil, fmt.Errorf("kafkalog: %s v%d is not a registered event", m.Event.Type, m.Event.Version)
		}
		if m.Stream == events.OrgStream {
			return Encode(OrgEvents, m.Event.OrgID, m.Event), nil
		}
		return Encode(MessageEvents, m.Event.CampaignID, m.Event), nil
	case events.Deliveries:
		if m.Delivery == nil {
			return nil, fmt.Errorf("kafkalog: a delivery message without its delivery")
		}
		return EncodeDelivery(*m.Delivery)
	case events.Receipts:
		if m.Receipt == nil {
			return nil, fmt.Errorf("kafkalog: a receipt message without its receipt")
		}
		v, err := json.Marshal(m.Receipt) // encoding/json: Done is omitzero
		if err != nil {
			return nil, err
		}
		return &kgo.Record{Topic: Receipts, Key: recordKey(m.Receipt.CampaignID), Value: v}, nil
	}
	return nil, fmt.Errorf("kafkalog: no topic for %v", m.Stream)
}

// streamOf is the stream a topic holds.
func streamOf(topic string) (events.Stream, bool) {
	switch {
	case topic == OrgEvents:
		return events.OrgStream, true
	case topic == MessageEvents:
		return events.MessageStream, true
	case topic == Receipts:
		return events.Receipts, true
	case strings.HasPrefix(topic, DeliveriesPrefix):
		return events.Deliveries, true
	}
	return 0, false
}

// DecodeMessage reads a record back as the message it carries, placed at
// its topic, partition, offset and timestamp.
func DecodeMessage(r *kgo.Record) (events.Message, error) {
	s, ok := streamOf(r.Topic)
	if !ok {
		return events.Message{}, fmt.Errorf("record %s/%d@%d: topic holds no stream", r.Topic, r.Partition, r.Offset)
	}
	m := events.Message{Stream: s, At: events.Position{Log: r.Topic, Shard: r.Partition, Offset: r.Offset, Time: r.Timestamp}}
	var err error
	switch s {
	case events.OrgStream, events.MessageStream:
		m.Event, err = Decode(r)
		if err == nil {
			err = m.Event.DecodePayload()
		}
	case events.Deliveries:
		var d events.Delivery
		d, err = DecodeDelivery(r)
		m.Delivery = &d
		if err == nil && d.MessageID == uuid.Nil {
			err = fmt.Errorf("delivery %s/%d@%d has no message id", r.Topic, r.Partition, r.Offset)
		}
	case events.Receipts:
		m.Receipt = new(events.Receipt)
		err = fastjson.Unmarshal(r.Value, m.Receipt)
		if err == nil {
			err = m.Receipt.Validate()
		}
		if err != nil {
			err = fmt.Errorf("receipt %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
	}
	return m, err
}

// EventTypeHeader is the raw type attribute of a record (nil for a record
// that is not an event), read without decoding the record.
func EventTypeHeader(r *kgo.Record) []byte {
	for _, h := range r.Headers {
		if h.Key == hType {
			return h.Value
		}
	}
	return nil
}

// KindOf is the registered kind a type attribute names; false for a value
// that is not one of ours or a type this build does not know.
func KindOf(ceType string) (events.Kind, bool) {
	t, v, err := parseCEType(ceType)
	if err != nil {
		return events.Kind{}, false
	}
	return events.Lookup(t, v)
}

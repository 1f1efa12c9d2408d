package kafkalog

import (
	"encoding/json"
	"fmt"
	"strconv"
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

// CEType is the CloudEvents type of an event type at a version.
func CEType(t events.Type, version int) string {
	return typePrefix + string(t) + ".v" + strconv.Itoa(version)
}

// Encode turns an event into a record on topic, keyed by key.
func Encode(topic string, key uuid.UUID, e events.Envelope) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, 11)
	add := func(k, v string) { hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(hSpec, "1.0")
	add(hID, e.ID.String())
	add(hType, CEType(e.Type, e.Version))
	add(hSource, "/ziett/"+e.Source)
	add(hTime, e.OccurredAt.UTC().Format(time.RFC3339Nano))
	add(hContentType, "application/json")
	add(hOrg, e.OrgID.String())
	if e.CampaignID != uuid.Nil {
		add(hCampaign, e.CampaignID.String())
		add(hSubject, "campaigns/"+e.CampaignID.String())
	}
	if e.TraceID != "" {
		add(hTrace, e.TraceID)
	}
	if e.CausationID != uuid.Nil {
		add(hCausation, e.CausationID.String())
	}
	return &kgo.Record{Topic: topic, Key: RecordKey(key), Value: e.Data, Headers: hs}
}

// Decode reads an event back from a record written by Encode.
func Decode(r *kgo.Record) (events.Envelope, error) {
	var e events.Envelope
	var err error
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case hID:
			e.ID, err = uuid.Parse(v)
		case hType:
			e.Type, e.Version, err = parseCEType(v)
		case hSource:
			if len(v) > len("/ziett/") {
				e.Source = v[len("/ziett/"):]
			}
		case hTime:
			e.OccurredAt, err = time.Parse(time.RFC3339Nano, v)
		case hOrg:
			e.OrgID, err = uuid.Parse(v)
		case hCampaign:
			e.CampaignID, err = uuid.Parse(v)
		case hTrace:
			e.TraceID = v
		case hCausation:
			e.CausationID, err = uuid.Parse(v)
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

// EncodeDelivery puts a message on its provider's queue, keyed by message
// so a provider's partitions spread evenly over its dispatchers.
func EncodeDelivery(d events.Delivery) (*kgo.Record, error) {
	v, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: DeliveryTopic(d.Provider), Key: RecordKey(d.MessageID), Value: v}, nil
}

// DecodeDelivery reads a record written by EncodeDelivery.
func DecodeDelivery(r *kgo.Record) (events.Delivery, error) {
	var d events.Delivery
	err := fastjson.Unmarshal(r.Value, &d) // see events.Envelope.Decode
	return d, err
}

// RecordKey is the key of records about id: its text form, so the log reads
// naturally in any Kafka tool (kcat -K) and partitioning by key is the same
// for every client that hashes the key bytes.
func RecordKey(id uuid.UUID) []byte { return []byte(id.String()) }

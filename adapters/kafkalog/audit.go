package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"ziett.co/campaigns/domain/events"
)

// Trail reads one campaign's events from the log itself, the source of
// truth, for audits. A campaign's events sit in two partitions: its
// organisation's partition of the organisation stream and its own
// partition of the message-event stream. Trail computes both from the
// record keys, as the producers did, and reads only those.
type Trail struct {
	// Client is the cluster and the options every client shares. Required
	// for Read.
	Client ClientConfig
	// Slack is how long before the instant in the campaign's UUIDv7 the
	// first page starts reading, to allow for clock skew between the hosts
	// that write a campaign's events. Zero means ten minutes.
	Slack time.Duration
}

// TrailEvent is one event of a campaign and where it is in the log.
type TrailEvent struct {
	events.Envelope
	Topic     string
	Partition int32
	Offset    int64
}

// TrailCursor is where a page of the trail starts: the next offset to read
// in the organisation partition and in the message-event partition.
type TrailCursor struct {
	Org, Msg int64
}

// TrailPage is a page of a campaign's events. Next is set even on the last
// page: reading from it later returns the events appended since.
type TrailPage struct {
	Events []TrailEvent
	Next   TrailCursor
	More   bool
}

// partitionFor is the partition of a key among n, as franz-go's default
// partitioner (and Kafka's Java client) chooses it: murmur2 of the key.
func partitionFor(key []byte, n int) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: key}, n))
}

// trailStream is the reading state of one of the two partitions.
type trailStream struct {
	topic     string
	partition int32
	end       int64 // high watermark when the read began
	scanned   int64 // next offset not yet looked at
	done      bool
	events    []TrailEvent
}

// Read returns up to limit events of the campaign that carry org as their
// organisation, from cursor (nil for the beginning). Within each partition
// events keep their log order; the two partitions are merged by event time.
// A campaign of another organisation has no events here.
func (t Trail) Read(ctx context.Context, org, campaign uuid.UUID, cursor *TrailCursor, limit int) (TrailPage, error) {
	if limit <= 0 {
		return TrailPage{}, errors.New("trail: limit must be positive")
	}
	cl, err := Client(t.Client,
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers advance the position like data does; seeing
		// them is how a read knows it reached the end it aimed for.
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return TrailPage{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The high watermark, not the last stable offset, bounds the read: the
	// record just before it is always followed, once its transaction ends,
	// by something visible at or after it (a commit makes it visible, an
	// abort writes a marker), so the read always ends.
	ends, err := adm.ListEndOffsets(ctx, OrgEvents, MessageEvents)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return TrailPage{}, fmt.Errorf("trail: list end offsets: %w", err)
	}
	streams := [2]*trailStream{{topic: OrgEvents}, {topic: MessageEvents}}
	keys := [2]uuid.UUID{org, campaign}
	for i, s := range streams {
		parts := ends[s.topic]
		if len(parts) == 0 {
			return TrailPage{}, fmt.Errorf("trail: topic %s has no partitions", s.topic)
		}
		s.partition = partitionFor(recordKey(keys[i]), len(parts))
		lo, ok := parts[s.partition]
		if !ok {
			return TrailPage{}, fmt.Errorf("trail: no end offset for %s/%d", s.topic, s.partition)
		}
		s.end = lo.Offset
	}
	if cursor != nil {
		streams[0].scanned, streams[1].scanned = cursor.Org, cursor.Msg
	} else if err := t.startAt(ctx, adm, campaign, streams); err != nil {
		return TrailPage{}, err
	}
	consume := map[string]map[int32]kgo.Offset{}
	for _, s := range streams {
		s.scanned = max(s.scanned, 0)
		if s.scanned >= s.end {
			s.done = true
			continue
		}
		consume[s.topic] = map[int32]kgo.Offset{s.partition: kgo.NewOffset().At(s.scanned)}
	}
	if len(consume) > 0 {
		cl.AddConsumePartitions(consume)
	}
	campaignText, orgText := campaign.String(), org.String()
	full := func(s *trailStream) bool { return s.done || len(s.events) >= limit }
	for !full(streams[0]) || !full(streams[1]) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return TrailPage{}, err
		}
		if err := fs.Err(); err != nil {
			return TrailPage{}, fmt.Errorf("trail: fetch: %w", err)
		}
		var decodeErr error
		fs.EachRecord(func(r *kgo.Record) {
			s := streams[0]
			if r.Topic == MessageEvents {
				s = streams[1]
			}
			if r.Partition != s.partition || full(s) || r.Offset < s.scanned || decodeErr != nil {
				return
			}
			if r.Offset >= s.end {
				s.done = true
				return
			}
			s.scanned = r.Offset + 1
			if s.scanned == s.end {
				s.done = true
			}
			if r.Attrs.IsControl() || header(r, hCampaign) != campaignText || header(r, hOrg) != orgText {
				return
			}
			e, err := Decode(r)
			if err != nil {
				decodeErr = err
				return
			}
			s.events = append(s.events, TrailEvent{Envelope: e, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		})
		if decodeErr != nil {
			return TrailPage{}, fmt.Errorf("trail: %w", decodeErr)
		}
		for _, s := range streams {
			if full(s) {
				cl.PauseFetchPartitions(map[string][]int32{s.topic: {s.partition}})
			}
		}
	}
	return mergeTrail(streams, limit), nil
}

// startAt sets where the first page reads from: a campaign id is a UUIDv7
// minted when the campaign was accepted, so none of its events was written
// before that instant (less the slack for clock skew).
func (t Trail) startAt(ctx context.Context, adm *kadm.Client, campaign uuid.UUID, streams [2]*trailStream) error {
	if campaign.Version() != 7 {
		return nil // read from the partitions' start
	}
	slack := t.Slack
	if slack == 0 {
		slack = 10 * time.Minute
	}
	sec, nsec := campaign.Time().UnixTime()
	from := time.Unix(sec, nsec).Add(-slack)
	offs, err := adm.ListOffsetsAfterMilli(ctx, from.UnixMilli(), OrgEvents, MessageEvents)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return fmt.Errorf("trail: list offsets after %s: %w", from.Format(time.RFC3339), err)
	}
	for _, s := range streams {
		lo, ok := offs.Lookup(s.topic, s.partition)
		switch {
		case !ok:
			return fmt.Errorf("trail: no offset after %s for %s/%d", from.Format(time.RFC3339), s.topic, s.partition)
		case lo.Offset < 0 || lo.Offset > s.end:
			s.scanned = s.end // nothing written since
		default:
			s.scanned = lo.Offset
		}
	}
	return nil
}

// mergeTrail interleaves the two partitions' events by time, keeping each
// partition's order, and says where the next page starts.
func mergeTrail(streams [2]*trailStream, limit int) TrailPage {
	a, b := streams[0], streams[1]
	var page TrailPage
	i, j := 0, 0
	for len(page.Events) < limit && (i < len(a.events) || j < len(b.events)) {
		takeA := j >= len(b.events) ||
			(i < len(a.events) && !b.events[j].OccurredAt.Before(a.events[i].OccurredAt))
		if takeA {
			page.Events = append(page.Events, a.events[i])
			i++
		} else {
			page.Events = append(page.Events, b.events[j])
			j++
		}
	}
	next := func(s *trailStream, taken int) int64 {
		if taken < len(s.events) {
			return s.events[taken].Offset
		}
		return s.scanned
	}
	page.Next = TrailCursor{Org: next(a, i), Msg: next(b, j)}
	page.More = i < len(a.events) || j < len(b.events) || !a.done || !b.done
	return page
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

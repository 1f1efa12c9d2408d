package accept

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/events"
)

// Claim states.
const (
	ClaimPending = "PENDING"
	ClaimDone    = "DONE"
)

// Claim is the record of an Idempotency-Key within an organisation.
type Claim struct {
	OrgID       uuid.UUID
	Key         string
	RequestHash []byte
	// CampaignID and EventID are fixed when the key is first claimed, so
	// every attempt at the request appends the same CampaignAccepted.
	CampaignID uuid.UUID
	EventID    uuid.UUID
	State      string
	// Attempt identifies the holder; taking over increments it.
	Attempt    int
	LeaseUntil time.Time
	// Now is the store's clock when the claim was read.
	Now time.Time
	// Mine is set when this call created or took over the claim.
	Mine bool
}

// Claims stores Idempotency-Key claims.
type Claims interface {
	// Claim creates a PENDING claim held by the caller (Mine) unless a live
	// one exists, which it returns instead. A claim older than ttl is
	// replaced as if absent.
	Claim(ctx context.Context, c Claim, lease, ttl time.Duration) (Claim, error)
	// TakeOver makes the caller the holder of a PENDING claim whose lease
	// has expired, if it is still at attempt; ok is false otherwise.
	TakeOver(ctx context.Context, org uuid.UUID, key string, attempt int, lease time.Duration) (Claim, bool, error)
	// Complete marks the claim DONE if attempt still holds it.
	Complete(ctx context.Context, org uuid.UUID, key string, attempt int) error
	// Release deletes a PENDING claim that attempt holds, for requests
	// refused before anything was appended.
	Release(ctx context.Context, org uuid.UUID, key string, attempt int) error
}

// maxVerifyScan bounds how far past the ledger's position a take-over
// reads the log. Past it the answer is "retry later", never a guess.
const maxVerifyScan = 200_000

// ErrUnverifiable means a take-over could not establish whether an earlier
// attempt appended its campaign; nothing is appended and the claim stays.
var ErrUnverifiable = errors.New("cannot verify an earlier attempt of this request yet")

// acceptOnce is Accept under an Idempotency-Key. The argument for "one
// campaign whatever happens" is in docs/reliability.md (Idempotency-Key).
func (s *Service) acceptOnce(ctx context.Context, c Caller, key string, hash []byte, est int64, acc events.CampaignAcceptedV1) (Result, error) {
	t := s.Timings
	waitUntil := time.Now().Add(t.WaitInProgress)
	for {
		cl, err := s.Claims.Claim(ctx, Claim{OrgID: c.OrgID, Key: key, RequestHash: hash,
			CampaignID: uuid.Must(uuid.NewV7()), EventID: uuid.Must(uuid.NewV7())}, t.Lease, t.TTL)
		if err != nil {
			return Result{}, err
		}
		switch {
		case cl.Mine:
			return s.fresh(ctx, c, cl, est, acc)
		case !bytes.Equal(cl.RequestHash, hash):
			return Result{}, ErrIdempotencyKeyReused
		case cl.State == ClaimDone:
			return Result{CampaignID: cl.CampaignID, Replayed: true}, nil
		case !cl.LeaseUntil.After(cl.Now):
			taken, ok, err := s.Claims.TakeOver(ctx, c.OrgID, key, cl.Attempt, t.Lease)
			if err != nil {
				return Result{}, err
			}
			if ok {
				return s.resume(ctx, c, taken, est, acc)
			}
		}
		// Another request holds the key: wait for it to finish or lapse.
		if time.Now().After(waitUntil) {
			return Result{}, &InProgressError{RetryAfter: max(time.Second, cl.LeaseUntil.Sub(cl.Now))}
		}
		if !sleep(ctx, 25*time.Millisecond) {
			return Result{}, ctx.Err()
		}
	}
}

// fresh runs a claim this request just created: nothing is in the log yet.
func (s *Service) fresh(ctx context.Context, c Caller, cl Claim, est int64, acc events.CampaignAcceptedV1) (Result, error) {
	claimed := time.Now()
	if err := s.checkFunds(ctx, c.OrgID, est); err != nil {
		s.release(ctx, cl)
		return Result{}, err
	}
	return s.appendClaimed(ctx, c, cl, claimed, acc)
}

// resume runs a claim taken over from an attempt that did not finish. That
// attempt may have appended before it died, and its lease has expired, so
// it can no longer append: the log now says for good whether it did.
func (s *Service) resume(ctx context.Context, c Caller, cl Claim, est int64, acc events.CampaignAcceptedV1) (Result, error) {
	claimed := time.Now()
	found, err := s.inLog(ctx, c.OrgID, cl.CampaignID)
	if err != nil {
		return Result{}, err
	}
	if found {
		if err := s.Claims.Complete(context.WithoutCancel(ctx), c.OrgID, cl.Key, cl.Attempt); err != nil {
			s.Logger.Error("mark idempotency key done", "org_id", c.OrgID, "campaign_id", cl.CampaignID, "err", err)
		}
		return Result{CampaignID: cl.CampaignID, Replayed: true}, nil
	}
	if err := s.checkFunds(ctx, c.OrgID, est); err != nil {
		s.release(ctx, cl)
		return Result{}, err
	}
	return s.appendClaimed(ctx, c, cl, claimed, acc)
}

func (s *Service) appendClaimed(ctx context.Context, c Caller, cl Claim, claimed time.Time, acc events.CampaignAcceptedV1) (Result, error) {
	t := s.Timings
	// The lease must outlast the append, or a taker could find nothing in
	// the log while this append is still on its way.
	if time.Since(claimed)+t.AppendTimeout >= t.Lease {
		s.release(ctx, cl)
		return Result{}, fmt.Errorf("claim on idempotency key held too long before appending")
	}
	if err := s.append(ctx, c, cl.CampaignID, cl.EventID, acc); err != nil {
		// The append may have landed anyway: keep the claim, so the next
		// attempt checks the log once the lease has run out.
		return Result{}, err
	}
	if err := s.Claims.Complete(context.WithoutCancel(ctx), c.OrgID, cl.Key, cl.Attempt); err != nil {
		// The campaign is in the log; a retry finds it there.
		s.Logger.Error("mark idempotency key done", "org_id", c.OrgID, "campaign_id", cl.CampaignID, "err", err)
	}
	return Result{CampaignID: cl.CampaignID}, nil
}

func (s *Service) release(ctx context.Context, cl Claim) {
	if err := s.Claims.Release(context.WithoutCancel(ctx), cl.OrgID, cl.Key, cl.Attempt); err != nil {
		// The claim lapses with its lease; the next attempt checks the log.
		s.Logger.Warn("release idempotency key", "org_id", cl.OrgID, "err", err)
	}
}

// inLog reports whether the campaign's CampaignAccepted is in the log. The
// ledger answers for everything before its position; the rest, normally
// a few records of projection lag, is read from the log itself. The order
// matters: the end is taken first, then the position, then the ledger's
// rows, so no record can fall between the three.
func (s *Service) inLog(ctx context.Context, org, campaignID uuid.UUID) (bool, error) {
	if s.Ledger == nil || s.Stream == nil {
		return false, ErrUnverifiable
	}
	p, end, err := s.Stream.End(ctx, org)
	if err != nil {
		return false, err
	}
	pos, err := s.Ledger.Position(ctx, p)
	if err != nil {
		return false, err
	}
	ok, err := s.Ledger.Accepted(ctx, org, campaignID)
	if err != nil || ok {
		return ok, err
	}
	if pos >= end {
		return false, nil
	}
	if end-pos > maxVerifyScan {
		return false, ErrUnverifiable
	}
	found := false
	err = s.Stream.Scan(ctx, p, pos, end, func(_ int64, e events.Envelope) {
		if e.Type == events.CampaignAccepted && e.CampaignID == campaignID && e.OrgID == org {
			found = true
		}
	})
	return found, err
}

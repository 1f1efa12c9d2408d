package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"ziett.co/campaigns/commands/control"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/campaign"
)

// Controller carries out pause, resume and cancel (commands/control).
type Controller interface {
	Do(ctx context.Context, org, id, apiKey uuid.UUID, c campaign.Control) (control.Result, error)
}

func (s *Server) controlRoutes(mux *Mux) {
	for _, c := range []campaign.Control{campaign.Pause, campaign.Resume, campaign.Cancel} {
		path := "/c/v1/campaigns/{campaign_id}/" + string(c)
		mux.HandleFunc("POST "+path, s.authed(apikey.ScopeCampaignSend, s.controlCampaign(c)))
		mux.HandleFunc(path, methodNotAllowed("POST"))
	}
}

// controlCampaign answers 200 with the campaign once the command has taken
// effect (for pause and cancel: once no dispatcher will hand over another
// of its messages beyond those in flight), 202 when it was recorded but has
// not shown yet, 409 when the campaign's status does not allow it.
func (s *Server) controlCampaign(c campaign.Control) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := campaignID(r)
		if !ok {
			respond(w, r, errCampaignNotFound)
			return
		}
		p := principal(r.Context())
		if s.Control == nil {
			s.fail(w, r, "campaign control", errors.New("not configured"))
			return
		}
		res, err := s.Control.Do(r.Context(), p.OrgID, id, p.KeyID, c)
		code := http.StatusOK
		switch {
		case errors.Is(err, control.ErrNotAcknowledged):
			code = http.StatusAccepted
		case err != nil:
			s.fail(w, r, "campaign control", err)
			return
		}
		s.Log.Info("campaign control", "control", c, "campaign_id", id, "org_id", p.OrgID, "key_id", p.KeyID,
			"status", res.Status, "applied", res.Applied, "trace_id", TraceID(r.Context()))
		v, err := s.Campaigns.Get(r.Context(), p.OrgID, id)
		if err != nil {
			s.fail(w, r, "get campaign", err)
			return
		}
		writeJSON(w, code, v)
	}
}

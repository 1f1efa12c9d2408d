package httpapi

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/projections/campaigns"
)

func (s *Server) readRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /c/v1/campaigns/{campaign_id}", s.authed(apikey.ScopeCampaignRead, s.getCampaign))
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("campaign_id"))
	if err != nil {
		writeError(w, r, http.StatusNotFound, CodeNotFound, "Campaign not found.", "core", nil)
		return
	}
	v, err := s.Campaigns.Get(r.Context(), principal(r.Context()).OrgID, id)
	switch {
	case errors.Is(err, campaigns.ErrNotFound):
		writeError(w, r, http.StatusNotFound, CodeNotFound, "Campaign not found.", "core", nil)
	case err != nil:
		s.Log.Error("get campaign", "err", err, "trace_id", TraceID(r.Context()))
		writeError(w, r, http.StatusServiceUnavailable, CodeUnavailable, "The service is temporarily unavailable.", "core", nil)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

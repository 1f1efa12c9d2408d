package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"ziett.co/campaigns/commands/accept"
	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/domain/campaign"
)

func (s *Server) commandRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /c/v1/campaigns/batch", s.authed(apikey.ScopeCampaignSend, s.postBatch))
}

func (s *Server) postBatch(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, r, http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json.", "core", nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, r, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "The request body exceeds 1 MiB.", "core", nil)
			return
		}
		writeError(w, r, http.StatusBadRequest, CodeMalformedJSON, "The request body could not be read.", "core", nil)
		return
	}
	req, ferrs := campaign.ParseRequest(body)
	if ferrs != nil {
		if msg, ok := ferrs["body"]; ok && len(ferrs) == 1 {
			writeError(w, r, http.StatusBadRequest, CodeMalformedJSON, msg, "core", nil)
			return
		}
		writeError(w, r, http.StatusUnprocessableEntity, CodeValidation, "One or more fields failed validation.", "core", ferrs)
		return
	}
	p := principal(r.Context())
	id, err := s.Accept.Accept(r.Context(), accept.Caller{OrgID: p.OrgID, APIKeyID: p.KeyID, TraceID: TraceID(r.Context())}, req)
	switch {
	case errors.Is(err, accept.ErrUnknownSender):
		writeError(w, r, http.StatusUnprocessableEntity, CodeValidation, "One or more fields failed validation.", "core",
			map[string]string{"remitter_id": "Sender ID not found or not approved for this organisation."})
		return
	case err != nil:
		s.Log.Error("accept campaign", "err", err, "trace_id", TraceID(r.Context()))
		writeError(w, r, http.StatusServiceUnavailable, CodeUnavailable, "The campaign could not be recorded; it was not accepted. Retry later.", "core", nil)
		return
	}
	s.Log.Info("campaign accepted", "campaign_id", id, "org_id", p.OrgID, "recipients", len(req.Recipients), "trace_id", TraceID(r.Context()))
	writeJSON(w, http.StatusAccepted, map[string]string{
		"message":     "Campaign accepted and is pending processing.",
		"campaign_id": id.String(),
	})
}

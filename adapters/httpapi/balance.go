package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"ziett.co/campaigns/domain/apikey"
	"ziett.co/campaigns/projections/ledger"
)

// Balances reads the ledger read model.
type Balances interface {
	Get(ctx context.Context, org uuid.UUID, entries int) (ledger.Balance, error)
}

// balanceEntries is how many recent ledger entries the balance shows.
const balanceEntries = 20

func (s *Server) balanceRoutes(mux *Mux) {
	mux.HandleFunc("GET /c/v1/balance", s.authed(apikey.ScopeCampaignRead, s.getBalance))
	mux.HandleFunc("/c/v1/balance", methodNotAllowed("GET, HEAD"))
}

// getBalance is the organisation's ledger. It is a projection of the log,
// so a credit shows up moments after it is made, not at once.
func (s *Server) getBalance(w http.ResponseWriter, r *http.Request) {
	if s.Balances == nil {
		respond(w, r, errUnavailable)
		return
	}
	b, err := s.Balances.Get(r.Context(), principal(r.Context()).OrgID, balanceEntries)
	if err != nil {
		s.fail(w, r, "get balance", err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// methodNotAllowed answers every other method of a path in the envelope;
// ServeMux's own 405 is plain text.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		respond(w, r, errMethodNotAllowed)
	}
}

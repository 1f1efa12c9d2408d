package dashboard

import (
	"net/http"
)

// balanceEntries is how much ledger history the balance page shows.
const balanceEntries = 100

func (s *Server) balancePage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if !c.CanRead() {
		s.renderError(w, r, c, http.StatusForbidden, "Not allowed", "This API key cannot read the balance (it lacks the apikey:campaign:read scope).")
		return
	}
	b, err := s.cfg.Balances.Get(r.Context(), c.P.OrgID, balanceEntries)
	if err != nil {
		s.unavailable(w, r, c, "get balance", err)
		return
	}
	s.render(w, r, http.StatusOK, "balance", &pageData{Title: "Balance", Nav: "balance", C: c, Data: b})
}

package dashboard

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"ziett.co/campaigns/adapters/httpapi"
	"ziett.co/campaigns/commands/webhooks"
	"ziett.co/campaigns/domain/problem"
	whproj "ziett.co/campaigns/projections/webhooks"
)

// deliveriesShown is how many recent deliveries each endpoint shows.
const deliveriesShown = 10

type endpointView struct {
	E          webhooks.Endpoint
	Deliveries []whproj.Delivery
}

type webhooksData struct {
	Available bool
	Endpoints []endpointView
	// The form to add an endpoint, as filled in, with the API's answers.
	URL, Description string
	Errors           map[string]string
	Alert            string
	// Secret is shown once, right after it is issued.
	Secret, SecretFor string
	Notice            string
}

func (s *Server) refuseWebhooks(w http.ResponseWriter, r *http.Request, c *reqCtx) bool {
	if s.cfg.Webhooks == nil {
		s.renderError(w, r, c, http.StatusNotFound, "Webhooks unavailable", "This deployment does not run webhooks.")
		return true
	}
	if !c.CanManageWebhooks() {
		s.renderError(w, r, c, http.StatusForbidden, "Not allowed",
			"This API key cannot manage webhooks: it lacks the apikey:webhooks:manage scope.")
		return true
	}
	return false
}

func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	d := webhooksData{}
	switch r.URL.Query().Get("done") {
	case "resent":
		d.Notice = "The delivery was queued to be sent again."
	case "test":
		d.Notice = "A test event (webhook.test) was queued; its delivery shows below within seconds."
	}
	s.renderWebhooks(w, r, c, http.StatusOK, &d)
}

func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, d *webhooksData) {
	if s.refuseWebhooks(w, r, c) {
		return
	}
	es, err := s.cfg.Webhooks.List(r.Context(), c.P.OrgID)
	if err != nil {
		s.unavailable(w, r, c, "list webhooks", err)
		return
	}
	d.Available = true
	for _, e := range es {
		ds, _, err := s.cfg.Webhooks.Deliveries(r.Context(), c.P.OrgID, e.ID, whproj.DeliveryQuery{Limit: deliveriesShown})
		if err != nil {
			s.unavailable(w, r, c, "list webhook deliveries", err)
			return
		}
		d.Endpoints = append(d.Endpoints, endpointView{E: e, Deliveries: ds})
	}
	s.render(w, r, status, "webhooks", &pageData{Title: "Webhooks", Nav: "webhooks", C: c, Data: d})
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.refuseWebhooks(w, r, c) {
		return
	}
	d := &webhooksData{URL: r.PostFormValue("url"), Description: r.PostFormValue("description")}
	body, _ := json.Marshal(map[string]string{"url": d.URL, "description": d.Description})
	in, ferrs := httpapi.ParseWebhookEndpoint(body)
	if ferrs != nil {
		p := problem.InvalidFields(ferrs)
		d.Errors, d.Alert = p.Fields, p.Message
		s.renderWebhooks(w, r, c, httpapi.Status(p), d)
		return
	}
	e, secret, err := s.cfg.Webhooks.Create(r.Context(), c.P.OrgID, in)
	if err != nil {
		// The API's refusal (the endpoint limit) beside the form.
		if p := httpapi.Problem(err); p != nil && p.Class() == problem.Conflict {
			d.Alert = p.Message
			s.renderWebhooks(w, r, c, httpapi.Status(p), d)
			return
		}
		s.unavailable(w, r, c, "create webhook", err)
		return
	}
	s.renderWebhooks(w, r, c, http.StatusCreated, &webhooksData{Secret: secret, SecretFor: e.URL,
		Notice: "Endpoint added. Copy its signing secret now: it is not shown again."})
}

func (s *Server) webhookID(w http.ResponseWriter, r *http.Request, c *reqCtx, name string) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		s.renderError(w, r, c, http.StatusNotFound, "Not found", "There is no such webhook endpoint or delivery in your organisation.")
		return uuid.Nil, false
	}
	return id, true
}

// webhookFailure shows the API's refusals of a webhook command by their
// code, in the dashboard's words.
func (s *Server) webhookFailure(w http.ResponseWriter, r *http.Request, c *reqCtx, what string, err error) {
	p := httpapi.Problem(err)
	switch {
	case p == nil:
		s.unavailable(w, r, c, what, err)
	case p.Class() == problem.NotFound:
		s.renderError(w, r, c, httpapi.Status(p), "Not found", "There is no such webhook endpoint or delivery in your organisation.")
	case p.Code == problem.CodeWebhookDisabled:
		s.renderWebhooks(w, r, c, httpapi.Status(p), &webhooksData{Alert: "The webhook endpoint is disabled; enable it first."})
	default:
		s.renderWebhooks(w, r, c, httpapi.Status(p), &webhooksData{Alert: p.Message})
	}
}

// rotateWebhook issues a new signing secret; the old one keeps signing
// for the API's default overlap.
func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.refuseWebhooks(w, r, c) {
		return
	}
	id, ok := s.webhookID(w, r, c, "webhook_id")
	if !ok {
		return
	}
	e, secret, err := s.cfg.Webhooks.RotateSecret(r.Context(), c.P.OrgID, id, httpapi.DefaultKeepOldSecret)
	if err != nil {
		s.webhookFailure(w, r, c, "rotate webhook secret", err)
		return
	}
	s.renderWebhooks(w, r, c, http.StatusOK, &webhooksData{Secret: secret, SecretFor: e.URL,
		Notice: "New signing secret issued. The previous one keeps signing for 24 hours. Copy it now: it is not shown again."})
}

func (s *Server) resendDelivery(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.refuseWebhooks(w, r, c) {
		return
	}
	id, ok := s.webhookID(w, r, c, "webhook_id")
	if !ok {
		return
	}
	del, ok := s.webhookID(w, r, c, "delivery_id")
	if !ok {
		return
	}
	if err := s.cfg.Webhooks.Resend(r.Context(), c.P.OrgID, id, del); err != nil {
		s.webhookFailure(w, r, c, "resend webhook delivery", err)
		return
	}
	http.Redirect(w, r, "/webhooks?done=resent", http.StatusSeeOther)
}

// testWebhook sends a test event to one endpoint.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.refuseWebhooks(w, r, c) {
		return
	}
	id, ok := s.webhookID(w, r, c, "webhook_id")
	if !ok {
		return
	}
	if _, err := s.cfg.Webhooks.SendTest(r.Context(), c.P.OrgID, id); err != nil {
		s.webhookFailure(w, r, c, "send test webhook", err)
		return
	}
	http.Redirect(w, r, "/webhooks?done=test", http.StatusSeeOther)
}

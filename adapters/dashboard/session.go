package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"ziett.co/campaigns/adapters/postgres"
	"ziett.co/campaigns/domain/apikey"
)

// Cookie names. The session cookie holds a random token whose hash finds
// the session row; the sign-in cookie carries the sign-in form's CSRF
// token before there is a session (double submit).
const (
	sessionCookie = "ziett_session"
	signinCookie  = "ziett_signin"
	csrfField     = "csrf_token"
	// maxFormBytes bounds a form, an uploaded recipients file included.
	maxFormBytes = 2 << 20
)

// reqCtx is what every signed-in page knows.
type reqCtx struct {
	P    postgres.Principal
	Org  postgres.Organisation
	CSRF string
	// HasMessages is set when the deployment lists single messages.
	HasMessages bool
}

// CanSend reports whether the key may create campaigns.
func (c *reqCtx) CanSend() bool { return c.P.HasScope(apikey.ScopeCampaignSend) }

// CanRead reports whether the key may read campaigns and the balance.
func (c *reqCtx) CanRead() bool { return c.P.HasScope(apikey.ScopeCampaignRead) }

// CanManageWebhooks reports whether the key may see and change webhooks.
func (c *reqCtx) CanManageWebhooks() bool { return c.P.HasScope(apikey.ScopeWebhooksManage) }

type handler func(w http.ResponseWriter, r *http.Request, c *reqCtx)

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) secure(r *http.Request) bool { return s.cfg.SecureCookies || r.TLS != nil }

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r),
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
}

// session finds the request's session.
func (s *Server) session(r *http.Request) (*reqCtx, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, false
	}
	ss, err := s.cfg.Sessions.Get(r.Context(), ck.Value, s.cfg.IdleTimeout)
	if err != nil {
		if !errors.Is(err, postgres.ErrNotFound) {
			s.cfg.Log.Error("dashboard session", "err", err)
		}
		return nil, false
	}
	return &reqCtx{P: ss.Principal, Org: ss.Org, CSRF: ss.CSRFToken, HasMessages: s.cfg.Messages != nil}, true
}

// toSignin sends a visitor without a session to the sign-in page; an htmx
// request is told to load it as a whole page.
func toSignin(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", "/signin")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// page requires a session.
func (s *Server) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.session(r)
		if !ok {
			toSignin(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, c)
	}
}

// form requires a session and the session's CSRF token in the form.
func (s *Server) form(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.session(r)
		if !ok {
			toSignin(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if !s.parseForm(r) {
			s.renderError(w, r, c, http.StatusRequestEntityTooLarge, "Form too large",
				"The form, with its file, must be under 2 MiB.")
			return
		}
		if !sameToken(r.PostFormValue(csrfField), c.CSRF) {
			s.renderError(w, r, c, http.StatusForbidden, "Form expired",
				"This form is out of date or did not come from this dashboard. Reload the page and try again.")
			return
		}
		h(w, r, c)
	}
}

func (s *Server) parseForm(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(maxFormBytes) == nil
	}
	return r.ParseForm() == nil
}

func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

type signinData struct {
	CSRF  string
	Error string
	Next  string
}

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/campaigns", http.StatusSeeOther)
		return
	}
	s.renderSignin(w, r, http.StatusOK, "")
}

func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	s.setCookie(w, r, signinCookie, tok, time.Hour)
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "signin", &pageData{Title: "Sign in", Data: signinData{CSRF: tok, Error: msg}})
}

// signin exchanges an API key for a session. The key itself is never
// stored in the browser.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderSignin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ck, err := r.Cookie(signinCookie)
	if err != nil || !sameToken(r.PostFormValue(csrfField), ck.Value) {
		s.renderSignin(w, r, http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	key := strings.TrimSpace(r.PostFormValue("api_key"))
	if key == "" {
		s.renderSignin(w, r, http.StatusUnprocessableEntity, "Enter your API key.")
		return
	}
	p, err := s.cfg.Auth.Authenticate(r.Context(), key)
	if err != nil {
		if !errors.Is(err, postgres.ErrNotFound) {
			s.cfg.Log.Error("dashboard sign-in", "err", err)
			s.renderSignin(w, r, http.StatusServiceUnavailable, "The service is temporarily unavailable. Please try again.")
			return
		}
		s.renderSignin(w, r, http.StatusUnauthorized, "The provided API key is invalid or has been revoked.")
		return
	}
	tok := randomToken()
	if err := s.cfg.Sessions.Create(r.Context(), tok, p, randomToken(), time.Now().Add(s.cfg.SessionTTL)); err != nil {
		s.cfg.Log.Error("dashboard session create", "err", err)
		s.renderSignin(w, r, http.StatusServiceUnavailable, "The service is temporarily unavailable. Please try again.")
		return
	}
	s.clearCookie(w, r, signinCookie)
	s.setCookie(w, r, sessionCookie, tok, s.cfg.SessionTTL)
	http.Redirect(w, r, "/campaigns", http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	c, ok := s.session(r)
	if !ok {
		toSignin(w, r)
		return
	}
	if err := r.ParseForm(); err != nil || !sameToken(r.PostFormValue(csrfField), c.CSRF) {
		s.renderError(w, r, c, http.StatusForbidden, "Form expired", "Reload the page and sign out again.")
		return
	}
	ck, _ := r.Cookie(sessionCookie)
	if err := s.cfg.Sessions.Delete(r.Context(), ck.Value); err != nil {
		s.cfg.Log.Error("dashboard sign-out", "err", err)
	}
	s.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

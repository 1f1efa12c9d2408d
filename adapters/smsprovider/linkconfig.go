package smsprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"
)

// LinkConfig is how the service reaches a provider: an SMPP account at its
// SMSC, or the in-process simulator (tests, benchmarks, demos). It is
// written beside the provider's rules in the rules file (see ParseLinks).
// A provider that routes traffic needs one to run in production
// (`ziett serve`); `ziett dev` gives every provider without one an
// embedded SMSC.
type LinkConfig struct {
	SMPP      *SMPPLink      `json:"smpp,omitempty"`
	Simulated *SimulatedLink `json:"simulated,omitempty"`
}

// SMPPLink is an SMPP v3.4 account. Zero fields take the defaults in their
// comments (applied by ParseLinks).
type SMPPLink struct {
	// Addr is the SMSC's host:port. Required.
	Addr string `json:"addr"`
	// SystemID is the account (at most 15 characters). Required.
	SystemID string `json:"system_id"`
	// Password (at most 8 characters), or PasswordEnv naming the
	// environment variable that holds it; one of the two.
	Password    string `json:"password,omitempty"`
	PasswordEnv string `json:"password_env,omitempty"`
	// SystemType is usually empty.
	SystemType string `json:"system_type"`
	// BindMode is "transceiver" (default) or "transmitter_receiver" (a
	// transmitter and a receiver per bind).
	BindMode string `json:"bind_mode"`
	// Binds is how many binds each dispatcher process keeps; default 1.
	Binds int `json:"binds"`
	// Window is how many submit_sm may await their response per bind;
	// default 10.
	Window int `json:"window"`
	// EnquireLink is the keepalive interval; default "30s".
	EnquireLink Duration `json:"enquire_link"`
	// LongMessages is how texts over one segment are sent: "udh" (default,
	// 8-bit reference concatenation header), "sar" (SAR TLVs) or "payload"
	// (one submit_sm with message_payload).
	LongMessages string `json:"long_messages"`
	// SourceTON and SourceNPI override the source address type picked from
	// the sender name (alphanumeric 5/0, long number 1/1, short code 3/0).
	SourceTON *int `json:"source_ton,omitempty"`
	SourceNPI *int `json:"source_npi,omitempty"`
	// TLS connects with TLS, verifying the SMSC's certificate.
	TLS bool `json:"tls"`
}

// SimulatedLink is the in-process provider (no network): for tests,
// benchmarks and demos. Its throughput limit is the provider's
// max_per_second.
type SimulatedLink struct {
	// Latency is the mean time a submission takes; default "0s".
	Latency Duration `json:"latency"`
	// TransientFailure and PermanentFailure are probabilities in [0,1].
	TransientFailure float64 `json:"transient_failure"`
	PermanentFailure float64 `json:"permanent_failure"`
}

// Duration is a time.Duration written as in Go ("30s", "1m").
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration is a string such as "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Bind modes and long message modes of SMPPLink.
const (
	BindTransceiver         = "transceiver"
	BindTransmitterReceiver = "transmitter_receiver"
)

// ParseLinks reads each provider's link from a rules file (the "smpp" or
// "simulated" object of its entry under "providers"), applies the defaults
// and checks them; a provider without either has no link. The file's
// rules themselves are the domain's to read (plan.ParseRules), which
// refuses keys neither knows.
func ParseLinks(rulesFile []byte) (map[string]LinkConfig, error) {
	var f struct {
		Providers map[string]json.RawMessage `json:"providers"`
	}
	if err := json.Unmarshal(rulesFile, &f); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	links := map[string]LinkConfig{}
	for _, name := range slices.Sorted(maps.Keys(f.Providers)) {
		var p struct {
			MaxPerSecond json.RawMessage `json:"max_per_second"` // a rule, not a link
			LinkConfig
		}
		dec := json.NewDecoder(bytes.NewReader(f.Providers[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("rules: provider %s: %w", name, err)
		}
		if err := p.LinkConfig.validate(name); err != nil {
			return nil, err
		}
		if p.SMPP != nil || p.Simulated != nil {
			links[name] = p.LinkConfig
		}
	}
	return links, nil
}

// Unlinked are the providers without a link, sorted.
func Unlinked(providers []string, links map[string]LinkConfig) []string {
	var out []string
	for _, p := range providers {
		if l := links[p]; l.SMPP == nil && l.Simulated == nil {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// validate applies the defaults and checks the link.
func (l *LinkConfig) validate(provider string) error {
	fail := func(f string, a ...any) error {
		return fmt.Errorf("rules: provider %s: %s", provider, fmt.Sprintf(f, a...))
	}
	if (l.SMPP == nil) == (l.Simulated == nil) {
		if l.SMPP == nil {
			return nil // no link
		}
		return fail("give either an smpp or a simulated link, not both")
	}
	if s := l.Simulated; s != nil {
		if s.Latency < 0 || s.TransientFailure < 0 || s.TransientFailure > 1 || s.PermanentFailure < 0 || s.PermanentFailure > 1 ||
			s.TransientFailure+s.PermanentFailure > 1 {
			return fail("simulated: latency must not be negative, failure probabilities within [0,1]")
		}
		return nil
	}
	s := l.SMPP
	if s.Addr == "" {
		return fail("smpp.addr is required")
	}
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		return fail("smpp.addr %q is not host:port", s.Addr)
	}
	if s.SystemID == "" || len(s.SystemID) > 15 {
		return fail("smpp.system_id is required, at most 15 characters")
	}
	if (s.Password == "") == (s.PasswordEnv == "") {
		return fail("smpp needs exactly one of password and password_env")
	}
	if len(s.Password) > 8 {
		return fail("smpp.password is at most 8 characters")
	}
	if len(s.SystemType) > 12 {
		return fail("smpp.system_type is at most 12 characters")
	}
	if s.BindMode == "" {
		s.BindMode = BindTransceiver
	}
	if s.BindMode != BindTransceiver && s.BindMode != BindTransmitterReceiver {
		return fail("smpp.bind_mode must be %q or %q", BindTransceiver, BindTransmitterReceiver)
	}
	if s.Binds == 0 {
		s.Binds = 1
	}
	if s.Window == 0 {
		s.Window = 10
	}
	if s.EnquireLink == 0 {
		s.EnquireLink = Duration(30 * time.Second)
	}
	if s.LongMessages == "" {
		s.LongMessages = "udh"
	}
	switch {
	case s.Binds < 1 || s.Binds > 64:
		return fail("smpp.binds must be 1 to 64")
	case s.Window < 1 || s.Window > 10000:
		return fail("smpp.window must be 1 to 10000")
	case s.EnquireLink < Duration(time.Second):
		return fail("smpp.enquire_link must be at least 1s")
	case s.LongMessages != "udh" && s.LongMessages != "sar" && s.LongMessages != "payload":
		return fail(`smpp.long_messages must be "udh", "sar" or "payload"`)
	}
	for name, v := range map[string]*int{"source_ton": s.SourceTON, "source_npi": s.SourceNPI} {
		if v != nil && (*v < 0 || *v > 255) {
			return fail("smpp.%s must be 0 to 255", name)
		}
	}
	return nil
}

package servicetest

import (
	"time"

	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/commands/process"
)

// SMSCPassword is the password LinkSMPP binds with.
const SMSCPassword = "secret"

// LinkSMPP links every provider of the shipped rules over SMPP to the SMSC
// at addr, each with its own account (system_id = provider name).
func LinkSMPP(addr string, binds, window int) Option {
	return func(cfg *service.Config) {
		r := process.DefaultRules()
		r.Links = map[string]process.Link{}
		for _, p := range r.Routes.Providers() {
			r.Links[p] = process.Link{SMPP: &process.SMPPLink{Addr: addr, SystemID: p, Password: SMSCPassword,
				BindMode: process.BindTransceiver, Binds: binds, Window: window,
				EnquireLink: process.Duration(30 * time.Second), LongMessages: "udh"}}
		}
		cfg.Rules = &r
	}
}

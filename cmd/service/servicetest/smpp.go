package servicetest

import (
	"time"

	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/cmd/service"
	"ziett.co/campaigns/domain/plan"
)

// SMSCPassword is the password LinkSMPP binds with.
const SMSCPassword = "secret"

// LinkSMPP links every provider of the shipped rules over SMPP to the SMSC
// at addr, each with its own account (system_id = provider name).
func LinkSMPP(addr string, binds, window int) Option {
	return func(cfg *service.Config) {
		r := plan.DefaultRules()
		links := map[string]smsprovider.LinkConfig{}
		for _, p := range r.Routes.Providers() {
			links[p] = smsprovider.LinkConfig{SMPP: &smsprovider.SMPPLink{Addr: addr, SystemID: p, Password: SMSCPassword,
				BindMode: smsprovider.BindTransceiver, Binds: binds, Window: window,
				EnquireLink: smsprovider.Duration(30 * time.Second), LongMessages: "udh"}}
		}
		cfg.Rules, cfg.Links = &r, links
	}
}

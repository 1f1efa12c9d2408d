package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/adapters/smsprovider"
	"ziett.co/campaigns/domain/plan"
)

// devSMSCPassword is the embedded SMSC's password for every account.
const devSMSCPassword = "dev"

// startDevSMSC starts the embedded SMSC simulator and links every routed
// provider of rules that has no link in links to it over SMPP (one account
// per provider, named after it), so that a dev stack sends over real SMPP
// on TCP; it returns the SMSC and the links completed so. It returns no
// SMSC and links as they were when every provider has a link already.
func startDevSMSC(rules plan.Rules, links map[string]smsprovider.LinkConfig, addr string, receiptDelay time.Duration, log *slog.Logger) (*smpp.SMSC, map[string]smsprovider.LinkConfig, error) {
	unlinked := smsprovider.Unlinked(rules.Routes.Providers(), links)
	if len(unlinked) == 0 {
		return nil, links, nil
	}
	// The demo's receipt outcomes; refusals at submit are left to tests, so
	// that every valid number of a dev campaign is sent.
	var outcomes []smpp.OutcomeRule
	for _, r := range smpp.DefaultRules {
		if r.SubmitStatus == 0 {
			outcomes = append(outcomes, r)
		}
	}
	s, err := smpp.NewSMSC(smpp.SMSCConfig{Addr: addr, ReceiptDelay: receiptDelay, Rules: outcomes, Log: log})
	if err != nil {
		return nil, nil, err
	}
	if err := s.Start(); err != nil {
		return nil, nil, fmt.Errorf("embedded smsc on %s: %w", addr, err)
	}
	all := make(map[string]smsprovider.LinkConfig, len(links)+len(unlinked))
	for p, l := range links {
		all[p] = l
	}
	for _, p := range unlinked {
		id := p
		if len(id) > 15 {
			id = id[:15]
		}
		all[p] = smsprovider.LinkConfig{SMPP: &smsprovider.SMPPLink{Addr: s.Addr(), SystemID: id, Password: devSMSCPassword,
			BindMode: smsprovider.BindTransceiver, Binds: 1, Window: 64, EnquireLink: smsprovider.Duration(30 * time.Second),
			LongMessages: "udh"}}
	}
	log.Info("embedded smsc started", "addr", s.Addr(), "providers", unlinked, "receipt_delay", receiptDelay,
		"outcomes", "numbers ending 13 UNDELIV, 14 REJECTD, 15 EXPIRED, others DELIVRD")
	return s, all, nil
}

// simulatedRequested reports whether a -provider-* flag (or
// ZIETT_PROVIDER_JOURNAL) asks for the in-process simulated providers for
// the providers without a link, instead of an SMSC.
func simulatedRequested(fs *flag.FlagSet) bool {
	asked := os.Getenv("ZIETT_PROVIDER_JOURNAL") != ""
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "provider-") {
			asked = true
		}
	})
	return asked
}

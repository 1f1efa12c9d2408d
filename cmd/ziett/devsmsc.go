package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"ziett.co/campaigns/adapters/smpp"
	"ziett.co/campaigns/commands/process"
)

// devSMSCPassword is the embedded SMSC's password for every account.
const devSMSCPassword = "dev"

// startDevSMSC starts the embedded SMSC simulator and links every routed
// provider of rules that has no link to it over SMPP (one account per
// provider, named after it), so that a dev stack sends over real SMPP on
// TCP. It returns nil when every provider has a link already.
func startDevSMSC(rules *process.Rules, addr string, receiptDelay time.Duration, log *slog.Logger) (*smpp.SMSC, error) {
	unlinked := rules.Unlinked()
	if len(unlinked) == 0 {
		return nil, nil
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
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, fmt.Errorf("embedded smsc on %s: %w", addr, err)
	}
	links := make(map[string]process.Link, len(rules.Links)+len(unlinked))
	for p, l := range rules.Links {
		links[p] = l
	}
	for _, p := range unlinked {
		id := p
		if len(id) > 15 {
			id = id[:15]
		}
		links[p] = process.Link{SMPP: &process.SMPPLink{Addr: s.Addr(), SystemID: id, Password: devSMSCPassword,
			BindMode: process.BindTransceiver, Binds: 1, Window: 64, EnquireLink: process.Duration(30 * time.Second),
			LongMessages: "udh"}}
	}
	rules.Links = links
	log.Info("embedded smsc started", "addr", s.Addr(), "providers", unlinked, "receipt_delay", receiptDelay,
		"outcomes", "numbers ending 13 UNDELIV, 14 REJECTD, 15 EXPIRED, others DELIVRD")
	return s, nil
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

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"ziett.co/campaigns/adapters/smpp"
)

// runSMSC runs the SMSC simulator on its own, for demos and for pointing
// other SMPP clients at.
func runSMSC(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("smsc", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2775", "listen address")
	accounts := fs.String("accounts", "", "system_id:password pairs, comma separated (empty accepts any account)")
	systemID := fs.String("system-id", "ziett-smsc", "the SMSC's own system_id in bind responses")
	delay := fs.Duration("receipt-delay", time.Second, "delay before a delivery receipt (negative: no receipts)")
	retry := fs.Duration("receipt-retry", time.Second, "wait before delivering an unacknowledged receipt again")
	throttle := fs.Float64("throttle", 0, "submit_sm per second per account before ESME_RTHROTTLED (0: unlimited)")
	rules := fs.String("rules", smpp.FormatRules(smpp.DefaultRules),
		"outcomes by destination suffix: suffix=STAT[:err] or suffix=0xSTATUS to refuse at submit")
	dropEvery := fs.Int("drop-every", 0, "drop the connection instead of answering every N-th submit_sm (0: never)")
	dropAfter := fs.Duration("drop-after", 0, "drop every connection this long after it binds (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	accts := map[string]string{}
	for _, pair := range strings.Split(*accounts, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		id, pw, ok := strings.Cut(pair, ":")
		if !ok || id == "" {
			return fmt.Errorf("smsc: -accounts entry %q is not system_id:password", pair)
		}
		accts[id] = pw
	}
	rs, err := smpp.ParseRules(*rules)
	if err != nil {
		return err
	}
	s, err := smpp.NewSMSC(smpp.SMSCConfig{Addr: *addr, SystemID: *systemID, Accounts: accts, ReceiptDelay: *delay,
		ReceiptRetry: *retry, Rules: rs, ThrottlePerSecond: *throttle, DropEvery: *dropEvery, DropAfter: *dropAfter, Log: log})
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	defer s.Close()
	log.Info("smsc listening", "addr", s.Addr(), "accounts", len(accts), "receipt_delay", *delay, "throttle", *throttle)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			st := s.Stats()
			log.Info("smsc stopped", "stats", fmt.Sprintf("%+v", st))
			return nil
		case <-t.C:
			st := s.Stats()
			log.Info("smsc stats", "submits", st.Submits, "messages", st.Messages, "duplicates", st.Duplicates,
				"throttled", st.Throttled, "receipts_sent", st.ReceiptsSent, "receipts_acked", st.ReceiptsAcked)
		}
	}
}

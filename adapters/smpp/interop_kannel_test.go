package smpp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// kannelBin finds a Kannel box; the test skips only when Kannel is missing
// and CI is not set.
func kannelBin(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI (.ci/run installs Debian's kannel)", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBox runs a Kannel box until the test ends, its output in dir.
func startBox(t *testing.T, bin, conf, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, conf)
	out, err := os.Create(filepath.Join(dir, filepath.Base(bin)+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		out.Close()
		if t.Failed() {
			for _, f := range []string{filepath.Base(bin) + ".out", filepath.Base(bin) + ".log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				if len(b) > 6000 && os.Getenv("KANNEL_FULL_LOG") == "" {
					b = b[len(b)-6000:]
				}
				t.Logf("--- %s\n%s", f, b)
			}
		}
	})
}

// Our SMSC against an SMPP client no one here wrote: Kannel's bearerbox
// binds to it, smsbox's sendsms injects messages, and the receipts our
// SMSC sends come back out of Kannel as its delivery reports.
func TestInteropSMSCAgainstKannel(t *testing.T) {
	bearerbox := kannelBin(t, "bearerbox")
	smsbox := kannelBin(t, "smsbox")
	dir := t.TempDir()

	var mu sync.Mutex
	var got []Message
	smsc := startSMSC(t, SMSCConfig{Accounts: map[string]string{"kannel": "kpw"}, ReceiptDelay: 200 * time.Millisecond,
		Rules: DefaultRules, OnMessage: func(m Message) { mu.Lock(); got = append(got, m); mu.Unlock() }})
	_, smscPort, _ := net.SplitHostPort(smsc.Addr())

	// Kannel calls this with each delivery report (dlr-url).
	type dlr struct{ status, to, tag string }
	dlrs := make(chan dlr, 16)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		dlrs <- dlr{q.Get("status"), q.Get("to"), q.Get("tag")}
		io.WriteString(w, "ok")
	})}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(hln)
	t.Cleanup(func() { hs.Close() })

	admin, boxPort, sendPort := freePort(t), freePort(t), freePort(t)
	conf := fmt.Sprintf(`group = core
admin-port = %[1]d
admin-password = adminpw
smsbox-port = %[2]d
box-allow-ip = 127.0.0.1
admin-allow-ip = 127.0.0.1
log-file = "%[5]s/bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = ziett
host = 127.0.0.1
port = %[3]s
transceiver-mode = true
smsc-username = kannel
smsc-password = kpw
system-type = ""
enquire-link-interval = 5
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = %[2]d
sendsms-port = %[4]d
sendsms-interface = 127.0.0.1
log-file = "%[5]s/smsbox.log"
log-level = 0

group = sendsms-user
username = tester
password = tpw
concatenation = true
max-messages = 5
user-allow-ip = 127.0.0.1

group = sms-service
keyword = default
catch-all = true
text = "ok"
`, admin, boxPort, smscPort, sendPort, dir)
	confPath := filepath.Join(dir, "kannel.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startBox(t, bearerbox, confPath, dir)
	eventually(t, "bearerbox to bind", func() bool { return smsc.Stats().Binds >= 1 })
	startBox(t, smsbox, confPath, dir)
	// smsbox serves sendsms before it has connected to bearerbox, and
	// aborts if a request comes in then: wait until bearerbox lists it.
	eventually(t, "smsbox to connect to bearerbox", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status.txt?password=adminpw", admin))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "smsbox:")
	})

	send := func(to, text string, extra url.Values) {
		t.Helper()
		q := url.Values{"username": {"tester"}, "password": {"tpw"}, "from": {"Ziett"}, "to": {to}, "text": {text},
			"charset": {"UTF-8"}, "dlr-mask": {"3"}, "dlr-url": {"http://" + hln.Addr().String() + "/dlr?status=%d&to=%p&tag=" + to}}
		for k, v := range extra {
			q[k] = v
		}
		u := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/sendsms?%s", sendPort, q.Encode())
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := http.Get(u)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
					return
				}
				t.Fatalf("sendsms answered %d: %s", resp.StatusCode, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("sendsms: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // smsbox still starting
		}
	}
	long := strings.Repeat("Kannel splits this {long} text. ", 8) // 264 septets: 2 parts
	sent := map[string]struct {
		text   string
		coding byte
		parts  int
	}{
		"244990000001": {"Olà from Kannel: €5 [x] ~", CodingDefault, 1},
		"244990000002": {"Привет от Kannel", CodingUCS2, 1},
		"244990000003": {long, CodingDefault, 2},
		"244990000013": {"this one is undelivered", CodingDefault, 1},
	}
	for to, m := range sent {
		extra := url.Values{}
		if m.coding == CodingUCS2 {
			extra.Set("coding", "2")
		}
		send(to, m.text, extra)
	}

	eventually(t, "our SMSC to receive every message", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(sent) })
	mu.Lock()
	for _, m := range got {
		want := sent[m.Dest]
		if m.Text != want.text || m.DataCoding != want.coding || m.Parts != want.parts || m.Source != "Ziett" || m.SystemID != "kannel" {
			t.Errorf("received from Kannel: %+v\nwant %+v", m, want)
		}
		if m.RegisteredDelivery&1 == 0 {
			t.Errorf("Kannel did not ask for a receipt: %+v", m)
		}
	}
	mu.Unlock()

	// Kannel's DLR status: 1 delivered to the phone, 2 undelivered.
	// Kannel reports a message split in parts once, when every part's
	// receipt is in.
	want := map[string]string{"244990000001": "1", "244990000002": "1", "244990000003": "1", "244990000013": "2"}
	seen := map[string][]string{}
	deadline := time.After(15 * time.Second)
	for len(seen["244990000001"]) == 0 || len(seen["244990000002"]) == 0 || len(seen["244990000013"]) == 0 || len(seen["244990000003"]) == 0 {
		select {
		case d := <-dlrs:
			seen[d.tag] = append(seen[d.tag], d.status)
		case <-deadline:
			t.Fatalf("delivery reports from Kannel: %v", seen)
		}
	}
	for to, status := range want {
		if seen[to][0] != status {
			t.Errorf("Kannel reported %s for %s, want %s", seen[to][0], to, status)
		}
	}
	// Kannel asks for a receipt on the first part of a split message only
	// (registered_delivery 0 on the others): four receipts for five parts.
	eventually(t, "every receipt acknowledged", func() bool { return smsc.Stats().ReceiptsAcked == 4 })
	if st := smsc.Stats(); st.ReceiptsNacked != 0 || st.Submits != 5 || smsc.PendingReceipts() != 0 {
		t.Fatalf("receipts %+v", st)
	}

	// A mobile-originated message from our SMSC reaches smsbox, whose
	// catch-all service answers "ok" back through bearerbox.
	if err := smsc.SendMO(ctxT(t), "kannel", "+244990000099", "4040", "hello Kannel €"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Kannel's reply to the MO", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range got {
			if m.Dest == "244990000099" && m.Text == "ok" {
				return true
			}
		}
		return false
	})
}

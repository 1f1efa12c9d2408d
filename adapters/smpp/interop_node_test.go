package smpp

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// nodeEvent is one line the node-smpp SMSC prints.
type nodeEvent struct {
	Event            string   `json:"event"`
	Port             int      `json:"port"`
	Command          string   `json:"command"`
	SystemID         string   `json:"system_id"`
	Password         string   `json:"password"`
	InterfaceVersion int      `json:"interface_version"`
	OK               bool     `json:"ok"`
	ID               string   `json:"id"`
	IDs              []string `json:"ids"`
	Text             string   `json:"text"`
	Source           string   `json:"source"`
	SourceTON        int      `json:"source_ton"`
	SourceNPI        int      `json:"source_npi"`
	Dest             string   `json:"dest"`
	DestTON          int      `json:"dest_ton"`
	DestNPI          int      `json:"dest_npi"`
	DataCoding       int      `json:"data_coding"`
	RegDelivery      int      `json:"registered_delivery"`
	Ref              string   `json:"ref"`
	Parts            int      `json:"parts"`
	Concat           string   `json:"concat"`
	Status           int      `json:"status"`
	Sessions         int      `json:"sessions"`
}

type nodeSMSC struct {
	t      *testing.T
	stdin  *json.Encoder
	mu     sync.Mutex
	events []nodeEvent
	port   int
}

// startNodeSMSC runs testdata/nodesmsc/server.js, an SMSC made of the npm
// package smpp (node-smpp). It skips only when node is not installed and
// CI is not set.
func startNodeSMSC(t *testing.T, accounts map[string]string) *nodeSMSC {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required in CI (.ci/run installs it)")
		}
		t.Skip("node not installed")
	}
	dir, _ := filepath.Abs("testdata/nodesmsc")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "smpp")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	acc, _ := json.Marshal(accounts)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.js", string(acc))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &nodeSMSC{t: t, stdin: json.NewEncoder(in)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev nodeEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				continue
			}
			n.mu.Lock()
			n.events = append(n.events, ev)
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	eventually(t, "node-smpp listening", func() bool { return len(n.find("listening")) == 1 })
	n.port = n.find("listening")[0].Port
	return n
}

func (n *nodeSMSC) find(event string) []nodeEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []nodeEvent
	for _, e := range n.events {
		if e.Event == event {
			out = append(out, e)
		}
	}
	return out
}

func (n *nodeSMSC) command(v any) {
	if err := n.stdin.Encode(v); err != nil {
		n.t.Fatal(err)
	}
}

func (n *nodeSMSC) message(dest string) (nodeEvent, bool) {
	for _, e := range n.find("message") {
		if e.Dest == dest {
			return e, true
		}
	}
	return nodeEvent{}, false
}

// Our client against an SMSC no one here wrote: node-smpp decodes our PDUs
// and the receipts it composes are read back by our client.
func TestInteropClientAgainstNodeSMPP(t *testing.T) {
	smsc := startNodeSMSC(t, map[string]string{"ziett": "s3cret"})
	addr := "127.0.0.1:" + strconv.Itoa(smsc.port)
	var dl deliveries
	udh := runClient(t, ClientConfig{Name: "node-udh", Addr: addr, SystemID: "ziett", Password: "s3cret", Binds: 2, Window: 5,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond, OnDeliver: dl.add})
	sar := runClient(t, ClientConfig{Name: "node-sar", Addr: addr, SystemID: "ziett", Password: "s3cret", Mode: TxRx, Long: LongSAR, OnDeliver: dl.add})
	ctx := ctxT(t)

	eventually(t, "four binds", func() bool { return len(smsc.find("bind")) == 4 })
	kinds := map[string]int{}
	for _, b := range smsc.find("bind") {
		if !b.OK || b.SystemID != "ziett" || b.Password != "s3cret" || b.InterfaceVersion != 0x34 {
			t.Fatalf("bind as node-smpp read it: %+v", b)
		}
		kinds[b.Command]++
	}
	if kinds["bind_transceiver"] != 2 || kinds["bind_transmitter"] != 1 || kinds["bind_receiver"] != 1 {
		t.Fatalf("bind kinds %v", kinds)
	}

	longGSM := strings.Repeat("Promo {50%} ", 20) // 260 septets with escapes: 2 parts
	longUCS := strings.Repeat("Скидка 😀 ", 12)    // 120 UTF-16 units: 2 parts
	type sent struct {
		c      *Client
		sub    Submission
		ton    int
		npi    int
		coding int
		parts  int
		concat string
	}
	cases := map[string]sent{
		"GSM-7 with extension characters, alphanumeric sender": {udh, Submission{Source: "Ziett", Dest: "+244990000001", Text: "Olà! [€5] ~ ^ | \\ {ok}"}, 5, 0, 0, 1, ""},
		"UCS-2, international sender":                          {udh, Submission{Source: "+244923000111", Dest: "244990000002", Text: "Привет, мир 😀"}, 1, 1, 8, 1, ""},
		"short code sender":                                    {udh, Submission{Source: "4040", Dest: "244990000003", Text: "code 1234"}, 3, 0, 0, 1, ""},
		"long GSM-7 with a UDH":                                {udh, Submission{Source: "Ziett", Dest: "244990000004", Text: longGSM}, 5, 0, 0, 2, "udh"},
		"long UCS-2 with a UDH":                                {udh, Submission{Source: "Ziett", Dest: "244990000005", Text: longUCS}, 5, 0, 8, 2, "udh"},
		"long GSM-7 with SAR TLVs":                             {sar, Submission{Source: "Ziett", Dest: "244990000006", Text: longGSM}, 5, 0, 0, 2, "sar"},
		"long UCS-2 with SAR TLVs, undelivered":                {sar, Submission{Source: "Ziett", Dest: "244990000013", Text: longUCS}, 5, 0, 8, 2, "sar"},
	}
	results := map[string]SubmitResult{}
	for name, c := range cases {
		c.sub.Ref = uuid.New()
		cases[name] = c
		res, err := c.c.Submit(ctx, c.sub)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		results[name] = res
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dest := strings.TrimPrefix(c.sub.Dest, "+")
			var m nodeEvent
			eventually(t, "node-smpp to reassemble the message", func() bool { var ok bool; m, ok = smsc.message(dest); return ok })
			if m.Text != c.sub.Text {
				t.Errorf("node-smpp decoded %q, sent %q", m.Text, c.sub.Text)
			}
			if m.SourceTON != c.ton || m.SourceNPI != c.npi || m.Source != strings.TrimPrefix(c.sub.Source, "+") || m.DestTON != 1 || m.DestNPI != 1 {
				t.Errorf("addressing %+v", m)
			}
			if m.DataCoding != c.coding || m.Parts != c.parts || m.Concat != c.concat || m.RegDelivery != 1 {
				t.Errorf("coding %d parts %d concat %q", m.DataCoding, m.Parts, m.Concat)
			}
			if m.Ref != hex.EncodeToString(c.sub.Ref[:]) {
				t.Errorf("our id TLV arrived as %q", m.Ref)
			}
			res := results[name]
			if strings.Join(res.MessageIDs, ",") != strings.Join(m.IDs, ",") || res.Parts != c.parts {
				t.Errorf("ids %v, node-smpp gave %v", res.MessageIDs, m.IDs)
			}
			eventually(t, "a receipt per part", func() bool {
				r := dl.receipts()
				for _, id := range res.MessageIDs {
					if r[id] == nil {
						return false
					}
				}
				return true
			})
			want := "DELIVRD"
			if strings.HasSuffix(dest, "13") {
				want = "UNDELIV"
			}
			for _, id := range res.MessageIDs {
				r := dl.receipts()[id]
				if r.Stat != want || r.Source != dest || r.Done.IsZero() || (want == "DELIVRD") != (r.State == StateDelivered) {
					t.Errorf("receipt %+v", r)
				}
			}
		})
	}

	t.Run("throttling answers slow the sender and the message still goes", func(t *testing.T) {
		ctx := ctxT(t)
		smsc.command(map[string]any{"cmd": "throttle", "n": 3})
		eventually(t, "node-smpp to take the command", func() bool { return len(smsc.find("throttle_set")) == 1 })
		res, err := udh.Submit(ctx, Submission{Ref: uuid.New(), Source: "Ziett", Dest: "244990000007", Text: "after throttling"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "three throttled answers", func() bool { return len(smsc.find("throttled")) == 3 })
		eventually(t, "the message", func() bool { _, ok := smsc.message("244990000007"); return ok })
		if m, _ := smsc.message("244990000007"); m.IDs[0] != res.MessageIDs[0] {
			t.Fatalf("message %+v", m)
		}
	})

	t.Run("a dropped connection is re-bound and sending goes on", func(t *testing.T) {
		ctx := ctxT(t)
		before := len(smsc.find("bind"))
		smsc.command(map[string]any{"cmd": "drop"})
		eventually(t, "the drop", func() bool { return len(smsc.find("dropped")) == 1 })
		eventually(t, "re-binds", func() bool { return len(smsc.find("bind")) == before+smsc.find("dropped")[0].Sessions })
		var err error
		for i := 0; i < 50; i++ {
			// A submit racing the drop may fail with an unknown outcome;
			// after the re-bind it goes through.
			if _, err = udh.Submit(ctx, Submission{Ref: uuid.New(), Source: "Ziett", Dest: "244990000008", Text: "after the drop"}); err == nil || !errors.Is(err, ErrUnknownOutcome) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the message", func() bool { _, ok := smsc.message("244990000008"); return ok })
	})

	for _, r := range smsc.find("receipt_resp") {
		if r.Status != 0 {
			t.Errorf("receipt %s answered %d", r.ID, r.Status)
		}
	}
}

package webhooks

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Every class of address a webhook must not reach is refused, in each of
// its spellings, and nothing public is.
func TestGuardRefusesEveryBlockedClass(t *testing.T) {
	blocked := map[string][]string{
		"loopback": {"127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1",
			"::127.0.0.1", "64:ff9b::127.0.0.1", "2002:7f00:1::"},
		"private": {"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12:3456::1",
			"::ffff:10.1.2.3", "::ffff:192.168.0.10", "64:ff9b::10.0.0.1", "2002:c0a8:1::", "fec0::1", "64:ff9b:1::1"},
		"link-local":  {"169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0", "::ffff:169.254.169.254"},
		"CGNAT":       {"100.64.0.1", "100.127.255.254", "::ffff:100.64.0.1"},
		"multicast":   {"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2", "::ffff:224.0.0.251"},
		"unspecified": {"0.0.0.0", "::", "0.1.2.3", "::ffff:0.0.0.0"},
		"reserved": {"255.255.255.255", "240.0.0.1", "192.0.0.8", "198.18.0.1", "192.0.2.1", "2001:db8::1",
			"2001:0:4136:e378::1", "100::1"},
	}
	var g Guard
	for class, addrs := range blocked {
		for _, a := range addrs {
			ip := netip.MustParseAddr(a)
			err := g.Check(ip)
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Errorf("%s (%s): allowed, want refused", a, class)
				continue
			}
			if be.Class != class {
				t.Errorf("%s: refused as %s, want %s", a, be.Class, class)
			}
		}
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700:4700::1111",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::", "11.0.0.1", "169.253.0.1"} {
		if err := g.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s: %v, want allowed", a, err)
		}
	}
}

// The allow-list lets an operator permit what the classes refuse, and no
// more.
func TestGuardAllowList(t *testing.T) {
	g := Guard{Allow: append([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, Loopback...)}
	for _, a := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3", "::ffff:10.1.2.3"} {
		if err := g.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s: %v, want allowed by the allow-list", a, err)
		}
	}
	for _, a := range []string{"10.2.0.1", "169.254.169.254", "192.168.0.1", "fe80::1"} {
		if err := g.Check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("%s allowed, want refused", a)
		}
	}
}

// The check runs when the connection is made, on the address the name
// resolved to: a name leading to loopback is refused like the literal.
func TestDialerRefusesAtConnectTime(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := Guard{}.Dialer().DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err == nil {
			c.Close()
			t.Fatalf("dial %s: connected, want refused", host)
		}
		var be *BlockedError
		if !errors.As(err, &be) || be.Class != "loopback" {
			t.Fatalf("dial %s: %v, want a loopback refusal", host, err)
		}
	}
	cl := newClient(Guard{}, 5*time.Second)
	if _, err := cl.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("GET through the client: %v, want a loopback refusal", err)
	}
	if hits != 0 {
		t.Fatalf("the server was reached %d times", hits)
	}
	c, err := Guard{Allow: Loopback}.Dialer().DialContext(ctx, "tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	c.Close()
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 14, 10, 30, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"Thu, 14 May 2026 10:31:00 GMT": time.Minute,
		"Thu, 14 May 2026 10:29:00 GMT": 0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q = %s, want %s", h, got, want)
		}
	}
}

package webhooks

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Guard decides which addresses deliveries may connect to. A customer
// chooses the URL, so without it a webhook could reach our own network:
// the metadata service, the database, an admin port. It checks at dial
// time, after DNS resolution, every address actually dialled: a name
// that resolves (or rebinds) to a refused address is refused as well.
type Guard struct {
	// Allow lists prefixes the operator permits even though they fall in
	// a refused class (an internal receiver, loopback in dev mode).
	Allow []netip.Prefix
}

// Loopback is the allow-list of dev mode and tests: receivers on this
// machine.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// BlockedError is a refused destination.
type BlockedError struct {
	Addr  netip.Addr
	Class string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("destination %s is a %s address, which webhooks may not reach", e.Addr, e.Class)
}

// Check refuses an address in a blocked class unless the allow-list
// permits it.
func (g Guard) Check(ip netip.Addr) error {
	ip = ip.WithZone("")
	for _, p := range g.Allow {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return nil
		}
	}
	if c := blockedClass(ip); c != "" {
		return &BlockedError{Addr: ip, Class: c}
	}
	return nil
}

// reserved are ranges outside the netip predicates that are no place for a
// public receiver.
var reserved = []struct {
	p     netip.Prefix
	class string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},    // "this network"
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT"},      // shared address space
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},    // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved"},    // documentation
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},   // benchmarking
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved"}, // documentation
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved"},  // documentation
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},     // future use, and the broadcast address
	{netip.MustParsePrefix("100::/64"), "reserved"},        // discard-only
	{netip.MustParsePrefix("2001::/32"), "reserved"},       // Teredo: hides an IPv4 address
	{netip.MustParsePrefix("2001:db8::/32"), "reserved"},   // documentation
	{netip.MustParsePrefix("fec0::/10"), "private"},        // site-local (deprecated)
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"},   // local-use NAT64
}

// blockedClass names the class that refuses ip, or "" for a public address.
func blockedClass(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	// ::ffff:a.b.c.d reaches a.b.c.d on a dual-stack socket.
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	}
	if v4, ok := embeddedIPv4(ip); ok {
		if c := blockedClass(v4); c != "" {
			return c
		}
	}
	for _, r := range reserved {
		if r.p.Contains(ip) {
			return r.class
		}
	}
	return ""
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 is the IPv4 address an IPv6 address leads to through a
// translation or tunnel mechanism: IPv4-compatible (::a.b.c.d), NAT64
// (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::).
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case [12]byte(b[:12]) == [12]byte{}:
		return netip.AddrFrom4([4]byte(b[12:])), true
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// control is a net.Dialer Control function: it runs for each address the
// dialer is about to connect to, after resolution.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("destination %q: %w", address, err)
	}
	return g.Check(ap.Addr())
}

// Dialer returns a dialer that connects only where the guard permits.
func (g Guard) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
}

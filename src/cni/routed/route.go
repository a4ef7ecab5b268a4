//go:build linux

package main

// Route operations, all in the main table.

import (
	"fmt"
	"net/netip"
	"syscall"
)

type route struct {
	dst      netip.Prefix
	gw       netip.Addr // invalid (zero) for a route straight out of the interface
	dev      string     // for messages only
	oif      int32
	scope    uint8
	protocol uint8
}

// rtMsg encodes struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
// type, flags.
func rtMsg(fam, dstLen, protocol, scope uint8) []byte {
	b := make([]byte, syscall.SizeofRtMsg)
	b[0], b[1] = fam, dstLen
	b[4], b[5], b[6], b[7] = syscall.RT_TABLE_MAIN, protocol, scope, syscall.RTN_UNICAST
	return b
}

func routeRequest(r route) [][]byte {
	body := [][]byte{
		rtMsg(family(r.dst.Addr()), uint8(r.dst.Bits()), r.protocol, r.scope),
		attr(syscall.RTA_DST, r.dst.Addr().AsSlice()),
		attr(syscall.RTA_OIF, u32(uint32(r.oif))),
	}
	if r.gw.IsValid() {
		body = append(body, attr(syscall.RTA_GATEWAY, r.gw.AsSlice()))
	}
	return body
}

// addRoute adds r, and fails with EEXIST where the table already routes r.dst: a route
// is never replaced, since the one in the way is another interface's (a retried ADD has
// already deleted its old veth, and the routes through it with it).
func (c *nlConn) addRoute(r route) error {
	if _, err := c.exec(syscall.RTM_NEWROUTE, syscall.NLM_F_CREATE|syscall.NLM_F_EXCL, routeRequest(r)...); err != nil {
		via := ""
		if r.gw.IsValid() {
			via = " via " + r.gw.String()
		}
		return fmt.Errorf("adding route %s%s dev %s: %w", r.dst, via, r.dev, err)
	}
	return nil
}

// routeEntry is what the plugin reads of a route in a dump.
type routeEntry struct {
	dst      netip.Prefix
	table    uint32
	typ      uint8
	oif      int32 // 0: none (a multipath or a blackhole route)
	priority uint32
}

// mainRoutes lists the main table's routes of one family.
func (c *nlConn) mainRoutes(fam uint8) ([]routeEntry, error) {
	replies, err := c.exec(syscall.RTM_GETROUTE, syscall.NLM_F_DUMP, rtMsg(fam, 0, 0, 0))
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	var routes []routeEntry
	for _, b := range replies {
		if len(b) < syscall.SizeofRtMsg {
			continue
		}
		attrs := parseAttrs(b[syscall.SizeofRtMsg:])
		e := routeEntry{table: uint32(b[4]), typ: b[7]}
		if t, ok := attrs[syscall.RTA_TABLE]; ok && len(t) == 4 {
			e.table = native.Uint32(t) // tables above 255 only fit here
		}
		if o, ok := attrs[syscall.RTA_OIF]; ok && len(o) == 4 {
			e.oif = int32(native.Uint32(o))
		}
		if p, ok := attrs[syscall.RTA_PRIORITY]; ok && len(p) == 4 {
			e.priority = native.Uint32(p)
		}
		dst, ok := netip.AddrFromSlice(attrs[syscall.RTA_DST])
		if !ok { // a default route has no RTA_DST
			dst = netip.IPv4Unspecified()
			if fam == syscall.AF_INET6 {
				dst = netip.IPv6Unspecified()
			}
		}
		e.dst = netip.PrefixFrom(dst, int(b[1]))
		if e.table == syscall.RT_TABLE_MAIN {
			routes = append(routes, e)
		}
	}
	return routes, nil
}

// destinationsVia lists the destinations of the main table's routes (of one family)
// that leave through interface oif.
func (c *nlConn) destinationsVia(fam uint8, oif int32) ([]netip.Prefix, error) {
	routes, err := c.mainRoutes(fam)
	if err != nil {
		return nil, err
	}
	var dsts []netip.Prefix
	for _, r := range routes {
		if r.oif == oif {
			dsts = append(dsts, r.dst)
		}
	}
	return dsts, nil
}

// Route types that are not a plain route out of an interface, for messages.
var routeTypeNames = map[uint8]string{
	syscall.RTN_BLACKHOLE: "blackhole", syscall.RTN_UNREACHABLE: "unreachable", syscall.RTN_PROHIBIT: "prohibit",
	syscall.RTN_THROW: "throw", syscall.RTN_LOCAL: "local", syscall.RTN_NAT: "nat",
}

// routeInTheWay explains why a host route to dst could not be added: which interface
// already holds the route to dst.
func (c *nlConn) routeInTheWay(dst netip.Prefix) error {
	const allocated = "the IPAM plugin handed out an address in use"
	holder, found, err := c.routeTo(dst)
	if err != nil {
		return fmt.Errorf("%s is already routed on the node (%v while looking up by what); %s", dst, err, allocated)
	}
	if !found {
		return fmt.Errorf("%s is already routed on the node; %s", dst, allocated)
	}
	if name, ok := routeTypeNames[holder.typ]; ok {
		return fmt.Errorf("%s is already a %s route on the node; %s", dst, name, allocated)
	}
	if holder.oif == 0 {
		return fmt.Errorf("%s is already routed via several next hops on the node; %s", dst, allocated)
	}
	name, err := c.linkName(holder.oif)
	if err != nil {
		name = fmt.Sprintf("interface index %d", holder.oif)
	}
	whose := "a host interface, no pod's veth"
	if isHostVethName(name) {
		whose = "another pod's veth"
	}
	return fmt.Errorf("%s is already routed via %s (%s); %s", dst, name, whose, allocated)
}

// routeTo finds the main table's route to exactly dst, preferring the one with the metric
// the plugin's routes get (0, which IPv6 stores as 1024): that is the one that collided.
func (c *nlConn) routeTo(dst netip.Prefix) (routeEntry, bool, error) {
	routes, err := c.mainRoutes(family(dst.Addr()))
	if err != nil {
		return routeEntry{}, false, err
	}
	ours := uint32(0)
	if dst.Addr().Is6() {
		ours = 1024
	}
	var match routeEntry
	found := false
	for _, r := range routes {
		if r.dst != dst {
			continue
		}
		if r.priority == ours {
			return r, true, nil
		}
		if !found {
			match, found = r, true
		}
	}
	return match, found, nil
}

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

// addRoute adds r; with replace, a route to the same destination is overwritten instead
// of being an error.
func (c *nlConn) addRoute(r route, replace bool) error {
	flags := uint16(syscall.NLM_F_CREATE | syscall.NLM_F_EXCL)
	if replace {
		flags = syscall.NLM_F_CREATE | syscall.NLM_F_REPLACE
	}
	if _, err := c.exec(syscall.RTM_NEWROUTE, flags, routeRequest(r)...); err != nil {
		via := ""
		if r.gw.IsValid() {
			via = " via " + r.gw.String()
		}
		return fmt.Errorf("adding route %s%s dev %s: %w", r.dst, via, r.dev, err)
	}
	return nil
}

// destinationsVia lists the destinations of the main table's routes (of one family)
// that leave through interface oif.
func (c *nlConn) destinationsVia(fam uint8, oif int32) ([]netip.Prefix, error) {
	replies, err := c.exec(syscall.RTM_GETROUTE, syscall.NLM_F_DUMP, rtMsg(fam, 0, 0, 0))
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	var dsts []netip.Prefix
	for _, b := range replies {
		if len(b) < syscall.SizeofRtMsg {
			continue
		}
		attrs := parseAttrs(b[syscall.SizeofRtMsg:])
		table := uint32(b[4])
		if t, ok := attrs[syscall.RTA_TABLE]; ok && len(t) == 4 {
			table = native.Uint32(t) // tables above 255 only fit here
		}
		o, ok := attrs[syscall.RTA_OIF]
		if table != syscall.RT_TABLE_MAIN || !ok || len(o) != 4 || int32(native.Uint32(o)) != oif {
			continue
		}
		if dst, ok := netip.AddrFromSlice(attrs[syscall.RTA_DST]); ok {
			dsts = append(dsts, netip.PrefixFrom(dst, int(b[1])))
		}
	}
	return dsts, nil
}

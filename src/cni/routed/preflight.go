//go:build linux

package main

// The checks of the node that come before ADD creates anything: what they refuse would
// leave a pod that cannot work, or break the node.

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
)

// ipv6Forwarding is the node's IPv6 forwarding switch. The plugin only reads it: writing
// it makes every interface of the node ignore router advertisements (unless its accept_ra
// is 2), which can take the node's own IPv6 default route away.
const ipv6Forwarding = "/proc/sys/net/ipv6/conf/all/forwarding"

// preflight refuses an ADD that the node cannot serve, before anything is created.
func preflight(host *nlConn, addrs []netip.Addr) error {
	if _, v6 := families(addrs); v6 {
		if err := checkIPv6Forwarding(ipv6Forwarding); err != nil {
			return err
		}
	}
	for _, ip := range addrs {
		if err := checkNotTheNodes(host, ip); err != nil {
			return err
		}
	}
	return nil
}

func checkIPv6Forwarding(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w; the node must forward IPv6 for routed pods", path, err)
	}
	if v := string(bytes.TrimSpace(b)); v != "1" {
		return &cniError{Code: codeOther, Msg: "net.ipv6.conf.all.forwarding is " + v,
			Details: "the node must forward IPv6 for routed pods (sysctl -w net.ipv6.conf.all.forwarding=1, with accept_ra=2 on interfaces that take router advertisements)"}
	}
	return nil
}

// Route types that say an address is the node's own.
var nodeAddressKinds = map[uint8]string{
	syscall.RTN_LOCAL:     "belongs to the node (an address of one of its interfaces)",
	syscall.RTN_BROADCAST: "is a broadcast address of the node's networks",
	syscall.RTN_ANYCAST:   "is an anycast address of the node (the subnet-router address of one of its prefixes)",
}

// checkNotTheNodes refuses an address the node has itself: the kernel's local table
// answers for it before any route to the pod, so the pod could send but never receive.
// The kernel's route lookup finds it whatever interface has it, up or down.
func checkNotTheNodes(host *nlConn, ip netip.Addr) error {
	typ, err := host.routeType(ip)
	if err != nil {
		return err
	}
	if kind, ok := nodeAddressKinds[typ]; ok {
		return &cniError{Code: codeInvalidConfig, Msg: fmt.Sprintf("the IPAM plugin's result has address %s, which %s", ip, kind),
			Details: "a pod's address must be one the node does not have; is the node's own address in the IPAM plugin's pool?"}
	}
	return nil
}

// routeType looks ip up as `ip route get` does and returns the type of the route that
// the node would use for it (RTN_*). No route at all is RTN_UNREACHABLE.
func (c *nlConn) routeType(ip netip.Addr) (uint8, error) {
	// An rtmsg of the family and the destination's length only: a lookup, not a filter.
	req := make([]byte, syscall.SizeofRtMsg)
	req[0], req[1] = family(ip), uint8(ip.BitLen())
	replies, err := c.exec(syscall.RTM_GETROUTE, 0, req, attr(syscall.RTA_DST, ip.AsSlice()))
	var refused *nlError
	if errors.As(err, &refused) {
		// ENETUNREACH and the like: the lookup ended in an error route, not a local one.
		return syscall.RTN_UNREACHABLE, nil
	}
	if err != nil {
		return 0, fmt.Errorf("looking up the node's route to %s: %w", ip, err)
	}
	if len(replies) == 0 || len(replies[0]) < syscall.SizeofRtMsg {
		return 0, fmt.Errorf("looking up the node's route to %s: the kernel answered without an rtmsg", ip)
	}
	return replies[0][7], nil
}

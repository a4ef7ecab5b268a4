//go:build linux

package main

// ADD: the pod's veth, addresses and routes.

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
)

// The data plane's fixed addresses, Calico's: every host end has the same MAC, hence the
// same IPv6 link-local address, so every pod has the same gateways.
var (
	hostVethMAC = net.HardwareAddr{0xee, 0xee, 0xee, 0xee, 0xee, 0xee}
	gateway4    = netip.MustParseAddr("169.254.1.1")
	gateway6    = netip.MustParseAddr("fe80::ecee:eeff:feee:eeee") // EUI-64 of hostVethMAC
)

func gatewayFor(ip netip.Addr) netip.Addr {
	if ip.Is4() {
		return gateway4
	}
	return gateway6
}

// hostVethName derives the host end's name from the attachment, so DEL finds it without
// any saved state: "pin" and 12 hex digits, 15 bytes, the kernel's limit.
func hostVethName(containerID, ifName string) string {
	sum := sha1.Sum([]byte(containerID + "/" + ifName))
	return "pin" + hex.EncodeToString(sum[:])[:12]
}

// isHostVethName: name is one that hostVethName gives.
func isHostVethName(name string) bool {
	_, err := hex.DecodeString(strings.TrimPrefix(name, "pin"))
	return len(name) == 15 && strings.HasPrefix(name, "pin") && err == nil
}

func (p *plugin) cmdAdd() (*cniResult, error) {
	// Before IPAM: an address is not worth allocating for a pod that cannot be attached.
	ns, err := openNetns(p.env.netns)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	out, err := p.delegate("ADD")
	if err != nil {
		return nil, err
	}
	res, err := parseResult(out, "the IPAM plugin's result")
	var a attachment
	if err == nil {
		a, err = p.attach(ns, res)
	}
	if err != nil {
		p.undoAdd()
		return nil, err
	}
	r := formatResult(p.conf.CNIVersion, a)
	return &r, nil
}

// undoAdd releases what a failed ADD took, best effort: the error that made ADD fail is
// the one to report.
func (p *plugin) undoAdd() {
	if err := removeHostVeth(hostVethName(p.env.containerID, p.env.ifName)); err != nil {
		fmt.Fprintf(p.stderr, "pinpool-routed: cleaning up after a failed ADD: %v\n", err)
	}
	if _, err := p.delegate("DEL"); err != nil {
		fmt.Fprintf(p.stderr, "pinpool-routed: releasing the address after a failed ADD: %v\n", err)
	}
}

// attach builds the pod's data plane once the node passes the checks that need nothing
// created (preflight.go): the host end first (its settings must be in place before the
// pod's traffic reaches it), then the pod's side, then the host routes.
func (p *plugin) attach(ns *os.File, res ipamResult) (attachment, error) {
	host, err := dialNetlink()
	if err != nil {
		return attachment{}, err
	}
	defer host.close()
	if err := preflight(host, res.addrs); err != nil {
		return attachment{}, err
	}
	name := hostVethName(p.env.containerID, p.env.ifName)
	hostLink, err := p.createHostVeth(host, name, ns, res.addrs)
	if err != nil {
		return attachment{}, err
	}
	podMAC, err := configurePod(ns, p.env.ifName, res.addrs)
	if err != nil {
		return attachment{}, err
	}
	for _, ip := range res.addrs {
		// Protocol static marks it as a route a BGP daemon's `learn` picks up.
		r := route{dst: netip.PrefixFrom(ip, ip.BitLen()), dev: name, oif: hostLink.index, scope: syscall.RT_SCOPE_LINK, protocol: syscall.RTPROT_STATIC}
		err := host.addRoute(r)
		if errors.Is(err, syscall.EEXIST) {
			// Taking the route over would cut off the pod that has the address now.
			return attachment{}, host.routeInTheWay(r.dst)
		}
		if err != nil {
			return attachment{}, err
		}
	}
	return attachment{hostVeth: name, ifName: p.env.ifName, netns: p.env.netns, podMAC: podMAC, addrs: res.addrs, dns: res.dns}, nil
}

// createHostVeth creates the pair (replacing a retried ADD's) and sets the host end up.
func (p *plugin) createHostVeth(host *nlConn, name string, ns *os.File, addrs []netip.Addr) (link, error) {
	if err := removeLink(host, name); err != nil {
		return link{}, err
	}
	spec := vethSpec{hostName: name, hostMAC: hostVethMAC, peerName: p.env.ifName, peerNs: int(ns.Fd()), mtu: p.conf.MTU}
	if err := host.createVeth(spec); err != nil {
		return link{}, err
	}
	l, err := host.linkByName(name)
	if err != nil {
		return link{}, err
	}
	v4, v6 := families(addrs)
	for _, s := range hostVethSysctls(name, v4, v6) {
		if err := writeSysctl(s); err != nil {
			return link{}, err
		}
	}
	for _, path := range globalForwarding(v4) {
		if err := enableForwarding(path); err != nil {
			return link{}, err
		}
	}
	return l, host.setUp(name, l.index)
}

// configurePod gives the pod's interface its addresses and routes, and returns its MAC.
func configurePod(ns *os.File, ifName string, addrs []netip.Addr) (net.HardwareAddr, error) {
	pod, err := dialInNetns(ns)
	if err != nil {
		return nil, err
	}
	defer pod.close()
	l, err := pod.linkByName(ifName)
	if err != nil {
		return nil, err
	}
	for _, ip := range addrs {
		if err := pod.addHostAddress(ifName, l.index, ip); err != nil {
			return nil, err
		}
	}
	// Up before the routes: IPv4 takes no route through an interface that is down.
	if err := pod.setUp(ifName, l.index); err != nil {
		return nil, err
	}
	v4, v6 := families(addrs)
	for _, r := range podRoutes(ifName, l.index, v4, v6) {
		err := pod.addRoute(r)
		if errors.Is(err, syscall.EEXIST) {
			// The gateway's route or a default route is there already: the pod has
			// another interface that sends its traffic elsewhere (or to another veth).
			return nil, fmt.Errorf("%w: the pod already has this route, through another interface; pinpool-routed supports one interface per pod, which all of the pod's traffic leaves by", err)
		}
		if err != nil {
			return nil, err
		}
	}
	return l.mac, nil
}

// podRoutes send everything to the host end: the IPv4 gateway is made on-link by a route
// of its own first, the IPv6 one is link-local and on-link by definition.
func podRoutes(dev string, oif int32, v4, v6 bool) []route {
	var routes []route
	if v4 {
		routes = append(routes,
			route{dst: netip.PrefixFrom(gateway4, 32), dev: dev, oif: oif, scope: syscall.RT_SCOPE_LINK, protocol: syscall.RTPROT_BOOT},
			route{dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), gw: gateway4, dev: dev, oif: oif, scope: syscall.RT_SCOPE_UNIVERSE, protocol: syscall.RTPROT_BOOT})
	}
	if v6 {
		routes = append(routes, route{dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0), gw: gateway6, dev: dev, oif: oif, scope: syscall.RT_SCOPE_UNIVERSE, protocol: syscall.RTPROT_BOOT})
	}
	return routes
}

// removeHostVeth deletes the host end (and with it the pair and its routes), if it exists.
func removeHostVeth(name string) error {
	host, err := dialNetlink()
	if err != nil {
		return err
	}
	defer host.close()
	return removeLink(host, name)
}

// removeLink deletes interface name if it exists: ENODEV at either step means it is gone.
func removeLink(c *nlConn, name string) error {
	l, err := c.linkByName(name)
	if errors.Is(err, syscall.ENODEV) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.deleteLink(name, l.index); err != nil && !errors.Is(err, syscall.ENODEV) {
		return err
	}
	return nil
}

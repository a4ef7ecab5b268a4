//go:build linux

package main

// CNI results: the IPAM plugin's (read) and this plugin's (written).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// ipamResult is what the plugin uses of a result: the addresses, and DNS to pass on. The
// IPAM plugin's gateways and routes are ignored, as Calico ignores them: the pod's only
// gateway is the host end of its veth, whatever subnet its addresses come from.
type ipamResult struct {
	addrs []netip.Addr
	dns   json.RawMessage
}

// parseResult reads a result of any supported version (0.3.0 to 1.1.0 all carry
// ips[].address as a CIDR). source names it in errors.
func parseResult(out []byte, source string) (ipamResult, error) {
	var r struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
		DNS json.RawMessage `json:"dns"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return ipamResult{}, &cniError{Code: codeDecodeFailure, Msg: source + " is not a CNI result", Details: fmt.Sprintf("%v in %q", err, bytes.TrimSpace(out))}
	}
	if len(r.IPs) == 0 {
		return ipamResult{}, &cniError{Code: codeInvalidConfig, Msg: source + " has no IP address", Details: fmt.Sprintf("%q; expected at least one entry in ips", bytes.TrimSpace(out))}
	}
	res := ipamResult{}
	if string(r.DNS) != "null" {
		res.dns = r.DNS
	}
	for _, ip := range r.IPs {
		p, err := netip.ParsePrefix(ip.Address)
		if err != nil || p.Addr().Zone() != "" {
			return ipamResult{}, &cniError{Code: codeDecodeFailure, Msg: source + " has a malformed address", Details: fmt.Sprintf("%q; expected an IPv4 or IPv6 CIDR such as 10.0.0.5/24", ip.Address)}
		}
		a := p.Addr().Unmap()
		if why := unfitForAPod(a); why != "" {
			return ipamResult{}, &cniError{Code: codeInvalidConfig, Msg: fmt.Sprintf("%s has address %s, which is %s", source, a, why),
				Details: "a pod's address must be a unicast address of the pod network, such as 10.0.0.5 or fd00::5: not unspecified, loopback, multicast, link-local (169.254.0.0/16, fe80::/10) or 255.255.255.255"}
		}
		if slices.Contains(res.addrs, a) {
			return ipamResult{}, &cniError{Code: codeInvalidConfig, Msg: fmt.Sprintf("%s has address %s twice", source, a),
				Details: fmt.Sprintf("%q; expected each address once", ip.Address)}
		}
		res.addrs = append(res.addrs, a)
	}
	return res, nil
}

// unfitForAPod says why a is an address no pod may have, or "" if it may.
func unfitForAPod(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsMulticast():
		return "a multicast address"
	case a == gateway4:
		return "the pods' IPv4 gateway, link-local"
	case a.IsLinkLocalUnicast():
		// IPv4's too: 169.254.1.1 is every pod's gateway, and the others are not routed.
		return "link-local"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the IPv4 broadcast address"
	}
	return ""
}

// families reports which IP families addrs has.
func families(addrs []netip.Addr) (v4, v6 bool) {
	for _, a := range addrs {
		v4, v6 = v4 || a.Is4(), v6 || a.Is6()
	}
	return v4, v6
}

// attachment is what ADD set up, for the result.
type attachment struct {
	hostVeth, ifName, netns string
	podMAC                  net.HardwareAddr
	addrs                   []netip.Addr
	dns                     json.RawMessage
}

type cniResult struct {
	CNIVersion string          `json:"cniVersion"`
	Interfaces []cniInterface  `json:"interfaces"`
	IPs        []cniIP         `json:"ips"`
	Routes     []cniRoute      `json:"routes"`
	DNS        json.RawMessage `json:"dns,omitempty"`
}

type cniInterface struct {
	Name    string `json:"name"`
	Mac     string `json:"mac"`
	Sandbox string `json:"sandbox,omitempty"`
}

type cniIP struct {
	Version   string `json:"version,omitempty"` // before 1.0.0 only
	Interface int    `json:"interface"`
	Address   string `json:"address"`
	Gateway   string `json:"gateway"`
}

type cniRoute struct {
	Dst string `json:"dst"`
}

// formatResult renders a in cniVersion: interface 0 is the host end, 1 the pod's.
func formatResult(cniVersion string, a attachment) cniResult {
	legacy := strings.HasPrefix(cniVersion, "0.")
	r := cniResult{
		CNIVersion: cniVersion,
		Interfaces: []cniInterface{{Name: a.hostVeth, Mac: hostVethMAC.String()}, {Name: a.ifName, Mac: a.podMAC.String(), Sandbox: a.netns}},
		DNS:        a.dns,
	}
	for _, ip := range a.addrs {
		entry := cniIP{Interface: 1, Address: netip.PrefixFrom(ip, ip.BitLen()).String(), Gateway: gatewayFor(ip).String()}
		if legacy {
			entry.Version = "6"
			if ip.Is4() {
				entry.Version = "4"
			}
		}
		r.IPs = append(r.IPs, entry)
	}
	v4, v6 := families(a.addrs)
	if v4 {
		r.Routes = append(r.Routes, cniRoute{Dst: "0.0.0.0/0"})
	}
	if v6 {
		r.Routes = append(r.Routes, cniRoute{Dst: "::/0"})
	}
	return r
}

//go:build linux

package main

// The host's kernel settings that make the host end of a veth the pod's gateway.

import (
	"bytes"
	"fmt"
	"os"
)

type sysctl struct{ path, value string }

// hostVethSysctls are the settings of the host end, Calico's. They can only be written
// once the link exists (its folders appear with it) and are written before it goes up,
// so the IPv6 link-local address it gets then is already exempt from DAD.
func hostVethSysctls(name string, v4, v6 bool) []sysctl {
	var s []sysctl
	if v4 {
		s = append(s,
			// The pod's gateway, 169.254.1.1, is no address of the host's: the host end
			// answers ARP for it (for any address it routes elsewhere) by proxy,
			sysctl{"/proc/sys/net/ipv4/conf/" + name + "/proxy_arp", "1"},
			// at once, not after a random delay of up to 0.8 s,
			sysctl{"/proc/sys/net/ipv4/neigh/" + name + "/proxy_delay", "0"},
			sysctl{"/proc/sys/net/ipv4/conf/" + name + "/forwarding", "1"})
	}
	if v6 {
		s = append(s,
			// The pods' IPv6 gateway is the host end's link-local address, so the host end
			// must have IPv6 and derive that address from its MAC (EUI-64), whatever the
			// node's defaults (conf/default/*) would give a new interface: no IPv6, no
			// link-local address, or a stable-privacy or random one.
			sysctl{"/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6", "0"},
			// A tentative address would not answer neighbour solicitations. Before
			// addr_gen_mode: changing it may generate the address at once.
			sysctl{"/proc/sys/net/ipv6/conf/" + name + "/accept_dad", "0"},
			sysctl{"/proc/sys/net/ipv6/conf/" + name + "/addr_gen_mode", "0"},
			// A router's interface takes no router advertisements.
			sysctl{"/proc/sys/net/ipv6/conf/" + name + "/accept_ra", "0"},
			sysctl{"/proc/sys/net/ipv6/conf/" + name + "/forwarding", "1"})
	}
	return s
}

// globalForwarding is the host's IPv4 forwarding switch, which the plugin turns on as
// Debian's ptp does. IPv6's is only checked (preflight.go): turning it on has effects
// beyond forwarding.
func globalForwarding(v4 bool) []string {
	if v4 {
		return []string{"/proc/sys/net/ipv4/ip_forward"}
	}
	return nil
}

func writeSysctl(s sysctl) error {
	if err := os.WriteFile(s.path, []byte(s.value), 0o644); err != nil {
		return fmt.Errorf("setting %s to %s: %w", s.path, s.value, err)
	}
	return nil
}

// enableForwarding writes 1 only where it is not already 1, as ptp does: a node whose
// operator enabled forwarding may run the plugin where /proc/sys is read-only.
func enableForwarding(path string) error {
	current, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if string(bytes.TrimSpace(current)) == "1" {
		return nil
	}
	return writeSysctl(sysctl{path, "1"})
}

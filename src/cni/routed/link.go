//go:build linux

package main

// Link and address operations: the veth pair, its state, the pod's addresses.

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Constants the syscall package lacks (linux/if_link.h, linux/veth.h).
const (
	iflaNetNsFD  = 28 // IFLA_NET_NS_FD: create the link in the namespace this fd names
	iflaInfoKind = 1  // IFLA_INFO_KIND
	iflaInfoData = 2  // IFLA_INFO_DATA
	vethInfoPeer = 1  // VETH_INFO_PEER: an ifinfomsg and the peer's attributes
)

// link is what the plugin needs to know of an interface.
type link struct {
	index int32
	up    bool
	mac   net.HardwareAddr
}

// ifInfo encodes struct ifinfomsg: family, pad, type, index, flags, change mask.
func ifInfo(index int32, flags, change uint32) []byte {
	b := make([]byte, syscall.SizeofIfInfomsg)
	b[0] = syscall.AF_UNSPEC
	native.PutUint32(b[4:8], uint32(index))
	native.PutUint32(b[8:12], flags)
	native.PutUint32(b[12:16], change)
	return b
}

// vethSpec describes the pair to create.
type vethSpec struct {
	hostName string
	hostMAC  net.HardwareAddr
	peerName string
	peerNs   int // an open fd of the namespace the peer is created in
	mtu      int // 0: the kernel's default
}

// vethRequest encodes the RTM_NEWLINK body that creates both ends at once, the peer
// directly in the pod's namespace: nothing named like the pod's interface ever appears
// on the host, where it could clash with a host interface.
func vethRequest(v vethSpec) [][]byte {
	host := [][]byte{ifInfo(0, 0, 0), attr(syscall.IFLA_IFNAME, cstring(v.hostName)), attr(syscall.IFLA_ADDRESS, v.hostMAC)}
	peer := [][]byte{ifInfo(0, 0, 0), attr(syscall.IFLA_IFNAME, cstring(v.peerName)), attr(iflaNetNsFD, u32(uint32(v.peerNs)))}
	if v.mtu > 0 {
		host = append(host, attr(syscall.IFLA_MTU, u32(uint32(v.mtu))))
		peer = append(peer, attr(syscall.IFLA_MTU, u32(uint32(v.mtu))))
	}
	info := attr(syscall.IFLA_LINKINFO,
		attr(iflaInfoKind, []byte("veth")),
		attr(iflaInfoData, attr(vethInfoPeer, peer...)))
	return append(host, info)
}

func (c *nlConn) createVeth(v vethSpec) error {
	_, err := c.exec(syscall.RTM_NEWLINK, syscall.NLM_F_CREATE|syscall.NLM_F_EXCL, vethRequest(v)...)
	if errors.Is(err, syscall.EEXIST) {
		// The host end's name was freed just before: the clash is in the pod's namespace.
		return fmt.Errorf("creating the veth pair %s (host) / %s (pod): %w: the pod's namespace already has an interface named %s; expected none",
			v.hostName, v.peerName, err, v.peerName)
	}
	if err != nil {
		return fmt.Errorf("creating the veth pair %s (host) / %s (pod): %w", v.hostName, v.peerName, err)
	}
	return nil
}

// linkByName looks an interface up; the error wraps ENODEV when there is none.
func (c *nlConn) linkByName(name string) (link, error) {
	replies, err := c.exec(syscall.RTM_GETLINK, 0, ifInfo(0, 0, 0), attr(syscall.IFLA_IFNAME, cstring(name)))
	if err != nil {
		return link{}, fmt.Errorf("looking up interface %s: %w", name, err)
	}
	if len(replies) == 0 || len(replies[0]) < syscall.SizeofIfInfomsg {
		return link{}, fmt.Errorf("looking up interface %s: the kernel answered without an ifinfomsg", name)
	}
	b := replies[0]
	return link{
		index: int32(native.Uint32(b[4:8])),
		up:    native.Uint32(b[8:12])&syscall.IFF_UP != 0,
		mac:   net.HardwareAddr(parseAttrs(b[syscall.SizeofIfInfomsg:])[syscall.IFLA_ADDRESS]),
	}, nil
}

// linkName looks an interface's name up by its index, for messages.
func (c *nlConn) linkName(index int32) (string, error) {
	replies, err := c.exec(syscall.RTM_GETLINK, 0, ifInfo(index, 0, 0))
	if err != nil {
		return "", fmt.Errorf("looking up interface index %d: %w", index, err)
	}
	if len(replies) == 0 || len(replies[0]) < syscall.SizeofIfInfomsg {
		return "", fmt.Errorf("looking up interface index %d: the kernel answered without an ifinfomsg", index)
	}
	name := parseAttrs(replies[0][syscall.SizeofIfInfomsg:])[syscall.IFLA_IFNAME]
	return string(bytes.TrimRight(name, "\x00")), nil
}

func (c *nlConn) setUp(name string, index int32) error {
	if _, err := c.exec(syscall.RTM_NEWLINK, 0, ifInfo(index, syscall.IFF_UP, syscall.IFF_UP)); err != nil {
		return fmt.Errorf("setting interface %s up: %w", name, err)
	}
	return nil
}

func (c *nlConn) deleteLink(name string, index int32) error {
	if _, err := c.exec(syscall.RTM_DELLINK, 0, ifInfo(index, 0, 0)); err != nil {
		return fmt.Errorf("deleting interface %s: %w", name, err)
	}
	return nil
}

// addHostAddress gives the interface ip as a host address (/32, /128): the pod shares no
// subnet with anything, all its traffic goes to the gateway. IPv6 skips duplicate address
// detection, which would leave the address unusable for a second or more: pinpool's IPAM
// already guarantees it is unique.
func (c *nlConn) addHostAddress(name string, index int32, ip netip.Addr) error {
	b := make([]byte, syscall.SizeofIfAddrmsg)
	b[0], b[1] = family(ip), uint8(ip.BitLen())
	if ip.Is6() {
		b[2] = syscall.IFA_F_NODAD
	}
	b[3] = syscall.RT_SCOPE_UNIVERSE
	native.PutUint32(b[4:8], uint32(index))
	body := [][]byte{b, attr(syscall.IFA_LOCAL, ip.AsSlice()), attr(syscall.IFA_ADDRESS, ip.AsSlice())}
	if _, err := c.exec(syscall.RTM_NEWADDR, syscall.NLM_F_CREATE|syscall.NLM_F_REPLACE, body...); err != nil {
		return fmt.Errorf("adding address %s/%d to %s: %w", ip, ip.BitLen(), name, err)
	}
	return nil
}

func family(ip netip.Addr) uint8 {
	if ip.Is4() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}

//go:build linux

package main

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAttrPadsToFourBytesAndCountsUnpaddedLength(t *testing.T) {
	got := attr(syscall.IFLA_IFNAME, cstring("eth0"))
	// 4-byte header (length 9: header + "eth0\0", then type) and the data, padded to 12.
	want := append(native.AppendUint16(native.AppendUint16(nil, 9), syscall.IFLA_IFNAME), 'e', 't', 'h', '0', 0, 0, 0, 0)
	if !bytes.Equal(got, want) {
		t.Fatalf("attr = %v, want %v", got, want)
	}
	if n := len(attr(1, u32(7))); n != 8 {
		t.Errorf("a u32 attribute is %d bytes, want 8 (no padding needed)", n)
	}
	if n := len(attr(1)); n != 4 {
		t.Errorf("an empty attribute is %d bytes, want 4", n)
	}
}

func TestNestedAttrLengthCoversPaddedChildren(t *testing.T) {
	kind := attr(1, []byte("veth")) // 8 bytes
	name := attr(3, cstring("a"))   // 6, padded to 8
	outer := attr(18, kind, name)
	if len(outer) != 4+8+8 {
		t.Fatalf("nested attribute is %d bytes, want 20", len(outer))
	}
	if l := native.Uint16(outer[0:2]); l != 20 {
		t.Errorf("nested length field = %d, want 20 (header + padded children)", l)
	}
	children := parseAttrs(outer[4:])
	if string(children[1]) != "veth" || string(children[3]) != "a\x00" {
		t.Errorf("children parsed back as %q", children)
	}
}

func TestMessageHeader(t *testing.T) {
	m := message(syscall.RTM_NEWLINK, syscall.NLM_F_REQUEST|syscall.NLM_F_ACK, 42, ifInfo(7, 0, 0), attr(1, u32(1)))
	if len(m) != 16+16+8 {
		t.Fatalf("message is %d bytes, want 40", len(m))
	}
	msgs, err := splitMessages(m)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("splitMessages = %v, %v", msgs, err)
	}
	if g := msgs[0]; g.typ != syscall.RTM_NEWLINK || g.flags != syscall.NLM_F_REQUEST|syscall.NLM_F_ACK || g.seq != 42 || len(g.data) != 24 {
		t.Errorf("header read back as %+v", g)
	}
	if native.Uint32(m[0:4]) != 40 {
		t.Errorf("length field = %d, want 40", native.Uint32(m[0:4]))
	}
}

func TestSplitMessagesRejectsABadLength(t *testing.T) {
	m := message(syscall.NLMSG_DONE, 0, 1, u32(0))
	native.PutUint32(m[0:4], 99)
	if _, err := splitMessages(m); err == nil {
		t.Fatal("a length past the datagram was accepted")
	}
}

func TestVethRequestNestsThePeer(t *testing.T) {
	body := bytes.Join(vethRequest(vethSpec{hostName: "pinabc", hostMAC: hostVethMAC, peerName: "eth0", peerNs: 9, mtu: 1400}), nil)
	top := parseAttrs(body[syscall.SizeofIfInfomsg:])
	if string(top[syscall.IFLA_IFNAME]) != "pinabc\x00" || !bytes.Equal(top[syscall.IFLA_ADDRESS], hostVethMAC) || native.Uint32(top[syscall.IFLA_MTU]) != 1400 {
		t.Fatalf("host attributes: %q", top)
	}
	info := parseAttrs(top[syscall.IFLA_LINKINFO])
	if string(info[iflaInfoKind]) != "veth" {
		t.Fatalf("IFLA_INFO_KIND = %q", info[iflaInfoKind])
	}
	peer := parseAttrs(info[iflaInfoData])[vethInfoPeer]
	if len(peer) < syscall.SizeofIfInfomsg {
		t.Fatalf("VETH_INFO_PEER is %d bytes, want an ifinfomsg and attributes", len(peer))
	}
	pa := parseAttrs(peer[syscall.SizeofIfInfomsg:])
	if string(pa[syscall.IFLA_IFNAME]) != "eth0\x00" || native.Uint32(pa[iflaNetNsFD]) != 9 || native.Uint32(pa[syscall.IFLA_MTU]) != 1400 {
		t.Errorf("peer attributes: %q", pa)
	}
}

func TestAckError(t *testing.T) {
	request := message(syscall.RTM_NEWROUTE, syscall.NLM_F_REQUEST, 3, rtMsg(syscall.AF_INET, 32, 0, 0))
	errno := func(e int32) []byte { return native.AppendUint32(nil, uint32(-e)) }

	if err := ackError(nlMessage{typ: syscall.NLMSG_ERROR, data: append(errno(0), request...)}); err != nil {
		t.Errorf("error 0 is an ack, got %v", err)
	}
	full := nlMessage{typ: syscall.NLMSG_ERROR, flags: nlmFAckTLVs, data: bytes.Join([][]byte{errno(int32(syscall.ENETUNREACH)), request, attr(nlmsgerrMsg, cstring("Nexthop has invalid gateway"))}, nil)}
	err := ackError(full)
	if !errors.Is(err, syscall.ENETUNREACH) || err.Error() != "network is unreachable (Nexthop has invalid gateway)" {
		t.Errorf("full ack: %v", err)
	}
	capped := nlMessage{typ: syscall.NLMSG_ERROR, flags: nlmFAckTLVs | nlmFCapped, data: bytes.Join([][]byte{errno(int32(syscall.EEXIST)), request[:16], attr(nlmsgerrMsg, cstring("exists"))}, nil)}
	if err := ackError(capped); !errors.Is(err, syscall.EEXIST) || err.Error() != "file exists (exists)" {
		t.Errorf("capped ack: %v", err)
	}
	if err := ackError(nlMessage{data: []byte{1}}); err == nil || errors.Is(err, syscall.Errno(0)) {
		t.Errorf("a 1-byte ack: %v", err)
	}
}

func TestHostVethName(t *testing.T) {
	// sha1("c1/eth0") = 9d48f381831a…
	if got := hostVethName("c1", "eth0"); got != "pin9d48f381831a" {
		t.Errorf("hostVethName = %q, want pin9d48f381831a", got)
	}
	if len(hostVethName("c1", "eth0")) != 15 {
		t.Error("a host veth name must be 15 bytes, the kernel's limit")
	}
	if hostVethName("c1", "eth0") == hostVethName("c1", "eth1") {
		t.Error("two interfaces of one sandbox got the same host veth name")
	}
}

func TestGateway6IsTheHostMACsLinkLocal(t *testing.T) {
	// EUI-64: flip the universal/local bit of the first byte, insert ff:fe in the middle.
	mac := hostVethMAC
	eui := net.IP{0xfe, 0x80, 0, 0, 0, 0, 0, 0, mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
	if eui.String() != gateway6.String() {
		t.Errorf("gateway6 = %s, the link-local address of %s is %s", gateway6, mac, eui)
	}
}

func TestIsHostVethName(t *testing.T) {
	for name, want := range map[string]bool{hostVethName("c1", "eth0"): true, "pin9d48f381831": false, "eth0": false, "pinxxxxxxxxxxxx": false, "cali9d48f381831": false} {
		if got := isHostVethName(name); got != want {
			t.Errorf("isHostVethName(%q) = %v, want %v", name, got, want)
		}
	}
}

// A request the kernel never answers (here: none was sent) fails after the socket's
// receive timeout instead of blocking the plugin, and the runtime's pod, forever.
func TestNetlinkAnswerThatNeverComesTimesOut(t *testing.T) {
	saved := netlinkTimeout
	netlinkTimeout = 100 * time.Millisecond
	defer func() { netlinkTimeout = saved }()
	c, err := dialNetlink()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	done := make(chan error, 1)
	go func() {
		_, err := c.receive(42)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EAGAIN) || !strings.Contains(err.Error(), "did not answer a netlink request within 100ms") {
			t.Errorf("got %v; want a timeout after 100ms", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("receive is still waiting after 5 s: the netlink socket has no receive timeout")
	}
}

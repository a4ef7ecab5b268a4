//go:build linux

package main

// What ADD refuses on a real node: each refusal fails before it harms a pod that has the
// address or interface in question, and leaves nothing behind.

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates network namespaces, veths and routes (the CI runs the tests as root)")
	}
	if _, err := os.Stat("/usr/lib/cni/static"); err != nil {
		t.Fatalf("Debian's static IPAM plugin is the delegate: %v (apt-get install containernetworking-plugins)", err)
	}
}

func TestADDRefusesWhatIsNotTheIPAMPluginsToGive(t *testing.T) {
	needRoot(t)
	prefix := fmt.Sprintf("pinrf%d", os.Getpid())
	node := newNode(t, prefix+"-node", true)
	a := testPod{id: prefix + "-a", netns: newNetns(t, prefix+"-a"), ipv4: "10.251.1.5", ipv6: "fd51::5"}
	a.add(t, node)

	other := newNetns(t, prefix+"-x")
	for _, c := range []struct {
		name string
		pod  testPod
		want string
	}{
		// A second pod handed a's addresses must not take a's routes.
		{"a's IPv4 address", testPod{id: prefix + "-v4", netns: other, ipv4: a.ipv4, ipv6: "fd53::3"},
			a.ipv4 + "/32 is already routed via " + a.hostVeth() + " (another pod's veth); the IPAM plugin handed out an address in use"},
		{"a's IPv6 address", testPod{id: prefix + "-v6", netns: other, ipv4: "10.253.0.3", ipv6: a.ipv6},
			a.ipv6 + "/128 is already routed via " + a.hostVeth() + " (another pod's veth)"},
		// The node's own addresses would never reach the pod.
		{"the node's IPv4 address", testPod{id: prefix + "-n4", netns: other, ipv4: "10.250.0.1", ipv6: "fd53::3"},
			"address 10.250.0.1, which belongs to the node"},
		{"the node's IPv6 address", testPod{id: prefix + "-n6", netns: other, ipv4: "10.253.0.3", ipv6: "fd50::1"},
			"address fd50::1, which belongs to the node"},
		// A second interface in a's namespace finds a's routes to the gateways there.
		{"a second interface", testPod{id: a.id, netns: a.netns, ifName: "eth1", ipv4: "10.251.1.6", ipv6: "fd51::6"},
			"pinpool-routed supports one interface per pod"},
	} {
		rc, out := c.pod.cni(t, node, "ADD", "")
		if rc != 1 || !strings.Contains(out, c.want) {
			t.Errorf("ADD with %s: exit %d: %s; want exit 1 and %q", c.name, rc, out, c.want)
		}
		if linkExists(node, c.pod.hostVeth()) {
			t.Errorf("ADD with %s: its host veth %s outlived the failed ADD", c.name, c.pod.hostVeth())
		}
	}
	// a is as it was.
	checkPod(t, a)
	checkNode(t, node, a)
	if linkExists(a.netns, "eth1") {
		t.Error("the failed ADD of a second interface left eth1 in the pod")
	}
	sh(t, "ip", "netns", "exec", node, "ping", "-c1", "-W2", a.ipv4)
	sh(t, "ip", "netns", "exec", node, "ping", "-6", "-c1", "-W2", a.ipv6)
}

// The plugin never turns on the node's IPv6 forwarding (it would make the node's
// interfaces ignore router advertisements): an IPv6 pod on a node that does not forward
// IPv6 is refused before anything is created.
func TestADDRefusesIPv6WhereTheNodeDoesNotForwardIt(t *testing.T) {
	needRoot(t)
	prefix := fmt.Sprintf("pinfw%d", os.Getpid())
	node := newNode(t, prefix+"-node", false)
	p := testPod{id: prefix + "-a", netns: newNetns(t, prefix+"-a"), ipv4: "10.251.1.5", ipv6: "fd51::5"}
	rc, out := p.cni(t, node, "ADD", "")
	want := "net.ipv6.conf.all.forwarding is 0"
	if rc != 1 || !strings.Contains(out, want) || !strings.Contains(out, "sysctl -w net.ipv6.conf.all.forwarding=1") {
		t.Errorf("ADD on a node without IPv6 forwarding: exit %d: %s; want exit 1 and %q with the fix", rc, out, want)
	}
	if linkExists(node, p.hostVeth()) || linkExists(p.netns, "eth0") {
		t.Errorf("the refused ADD created the veth %s", p.hostVeth())
	}
	if got := strings.TrimSpace(sh(t, "ip", "netns", "exec", node, "cat", "/proc/sys/net/ipv6/conf/all/forwarding")); got != "0" {
		t.Errorf("the node's IPv6 forwarding is %s after ADD, want 0: the plugin must leave it alone", got)
	}
}

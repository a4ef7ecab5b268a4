//go:build linux

package main

// What the namespace tests check of an attachment: the result, the pod's side, the node's.

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

func linkExists(netns, name string) bool {
	return exec.Command("ip", "-n", netns, "link", "show", "dev", name).Run() == nil
}

// checkResult: the printed result describes the attachment that exists.
func checkResult(t *testing.T, p testPod, out string) {
	var r cniResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("ADD printed %q: %v", out, err)
	}
	mac := strings.Fields(sh(t, "ip", "-n", p.netns, "-br", "link", "show", "eth0"))[2]
	want := cniResult{CNIVersion: "1.0.0",
		Interfaces: []cniInterface{{Name: p.hostVeth(), Mac: "ee:ee:ee:ee:ee:ee"}, {Name: "eth0", Mac: mac, Sandbox: "/var/run/netns/" + p.netns}},
		IPs:        []cniIP{{Interface: 1, Address: p.ipv4 + "/32", Gateway: "169.254.1.1"}, {Interface: 1, Address: p.ipv6 + "/128", Gateway: "fe80::ecee:eeff:feee:eeee"}},
		Routes:     []cniRoute{{Dst: "0.0.0.0/0"}, {Dst: "::/0"}},
		DNS:        json.RawMessage(`{}`)}
	got, _ := json.Marshal(r)
	wanted, _ := json.Marshal(want)
	if string(got) != string(wanted) {
		t.Errorf("ADD result\n got %s\nwant %s", got, wanted)
	}
}

// checkPod: the pod has host addresses and routes everything to the host end.
func checkPod(t *testing.T, p testPod) {
	for _, c := range []struct{ args, want string }{
		{"-4 addr show dev eth0", "inet " + p.ipv4 + "/32 "},
		{"-6 addr show dev eth0", "inet6 " + p.ipv6 + "/128 "},
		{"-4 route show", "169.254.1.1 dev eth0 scope link"},
		{"-4 route show default", "default via 169.254.1.1 dev eth0"},
		{"-6 route show default", "default via fe80::ecee:eeff:feee:eeee dev eth0"},
	} {
		if out := sh(t, append([]string{"ip", "-n", p.netns}, strings.Fields(c.args)...)...); !strings.Contains(out, c.want) {
			t.Errorf("pod %s: `ip %s` shows %q; want %q", p.id, c.args, out, c.want)
		}
	}
}

// checkNode: the node routes each pod address to the pod's veth, as a route a BGP
// daemon learns, and the host end answers for the gateway.
func checkNode(t *testing.T, node string, p testPod) {
	veth := p.hostVeth()
	for _, c := range []struct{ args, want string }{
		{"-4 route show " + p.ipv4 + "/32", p.ipv4 + " dev " + veth + " proto static scope link"},
		{"-6 route show " + p.ipv6 + "/128", p.ipv6 + " dev " + veth + " proto static"},
	} {
		if out := sh(t, append([]string{"ip", "-n", node}, strings.Fields(c.args)...)...); !strings.Contains(out, c.want) {
			t.Errorf("node: `ip %s` shows %q; want %q", c.args, out, c.want)
		}
	}
	if out := sh(t, "ip", "-n", node, "-6", "addr", "show", "dev", veth); !strings.Contains(out, "inet6 fe80::ecee:eeff:feee:eeee/64 scope link") {
		t.Errorf("node: %s has no address fe80::ecee:eeff:feee:eeee, the pods' IPv6 gateway: %s", veth, out)
	}
	for path, want := range map[string]string{
		"ipv4/conf/" + veth + "/proxy_arp":     "1",
		"ipv4/neigh/" + veth + "/proxy_delay":  "0",
		"ipv6/conf/" + veth + "/disable_ipv6":  "0",
		"ipv6/conf/" + veth + "/addr_gen_mode": "0",
		"ipv6/conf/" + veth + "/accept_dad":    "0",
		"ipv6/conf/" + veth + "/accept_ra":     "0",
		"ipv6/conf/" + veth + "/forwarding":    "1",
		"ipv4/ip_forward":                      "1",
	} {
		if got := strings.TrimSpace(sh(t, "ip", "netns", "exec", node, "cat", "/proc/sys/net/"+path)); got != want {
			t.Errorf("node: %s = %s, want %s", path, got, want)
		}
	}
}

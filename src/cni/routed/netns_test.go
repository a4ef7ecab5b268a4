//go:build linux

package main

// The plugin, built and run as a runtime runs it, against real network namespaces, with
// Debian's `static` IPAM plugin as the delegate. Everything happens in namespaces of the
// test's own, the "node" included: the machine's real routing table (which a BGP daemon
// may be announcing from) and its forwarding switches are never touched. ADD's refusals
// are in netns_refusal_test.go.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pluginBin is the plugin built by TestMain, when running as root.
var pluginBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "pinpool-routed-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "pinpool-routed")
	build := exec.Command("go", "build", "-trimpath", "-o", pluginBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the plugin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sh runs a command and returns its output; failing is fatal.
func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns creates a named network namespace, deleted when the test ends.
func newNetns(t *testing.T, name string) string {
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// newNode makes a namespace that plays the node: an address (the source of its ARP and
// neighbour solicitations towards pods) and a default route out of another interface
// (proxy ARP answers for 169.254.1.1 only if it routes elsewhere). IPv4 forwarding is
// off (the plugin turns it on); IPv6 forwarding is the node's to turn on, and is on if
// forwards6.
func newNode(t *testing.T, name string, forwards6 bool) string {
	newNetns(t, name)
	for _, cmd := range []string{
		// A veth pair is the uplink: every kernel that runs the plugin has veth.
		"link set lo up", "link add uplink type veth peer name uplink-peer", "link set uplink-peer up", "link set uplink up",
		"addr add 10.250.0.1/32 dev uplink", "addr add fd50::1/128 dev uplink nodad",
		"route add default dev uplink", "-6 route add default dev uplink",
	} {
		sh(t, append([]string{"ip", "-n", name}, strings.Fields(cmd)...)...)
	}
	forwarding6 := "net.ipv6.conf.all.forwarding=0"
	if forwards6 {
		forwarding6 = "net.ipv6.conf.all.forwarding=1"
	}
	nodeSysctl(t, name, "net.ipv4.ip_forward=0", forwarding6)
	return name
}

func nodeSysctl(t *testing.T, node string, settings ...string) {
	for _, s := range settings {
		sh(t, "ip", "netns", "exec", node, "sysctl", "-qw", s)
	}
}

type testPod struct {
	id, netns, ipv4, ipv6 string
	ifName                string // eth0 if empty
	ipam                  string // static if empty
	cniPath               string // /usr/lib/cni if empty
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func (p testPod) conf(prevResult string) string {
	prev := ""
	if prevResult != "" {
		prev = `,"prevResult":` + prevResult
	}
	return `{"cniVersion":"1.0.0","name":"pinpool","type":"pinpool-routed","mtu":1500` + prev +
		`,"ipam":{"type":"` + or(p.ipam, "static") + `","addresses":[{"address":"` + p.ipv4 + `/24"},{"address":"` + p.ipv6 + `/64"}]}}`
}

func (p testPod) hostVeth() string { return hostVethName(p.id, or(p.ifName, "eth0")) }

// cni runs the plugin in node's namespace, as the runtime on that node would.
func (p testPod) cni(t *testing.T, node, command, prevResult string) (int, string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", node, pluginBin)
	cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID="+p.id, "CNI_NETNS=/var/run/netns/"+p.netns,
		"CNI_IFNAME="+or(p.ifName, "eth0"), "CNI_PATH="+or(p.cniPath, "/usr/lib/cni"), "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME="+p.id)
	cmd.Stdin = strings.NewReader(p.conf(prevResult))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running the plugin: %v", err)
	}
	if stderr.Len() > 0 {
		t.Logf("%s %s stderr: %s", command, p.id, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func (p testPod) add(t *testing.T, node string) string {
	t.Helper()
	rc, out := p.cni(t, node, "ADD", "")
	if rc != 0 {
		t.Fatalf("ADD %s: exit %d: %s", p.id, rc, out)
	}
	return out
}

func TestRoutedPodsInNetworkNamespaces(t *testing.T) {
	needRoot(t)
	prefix := fmt.Sprintf("pinrt%d", os.Getpid())
	node := newNode(t, prefix+"-node", true)
	a := testPod{id: prefix + "-a", netns: newNetns(t, prefix+"-a"), ipv4: "10.251.1.5", ipv6: "fd51::5"}
	b := testPod{id: prefix + "-b", netns: newNetns(t, prefix+"-b"), ipv4: "10.252.9.7", ipv6: "fd52::7"}
	// b's IPAM plugin notes whether b's host veth still exists when it is asked to DEL.
	b.ipam, b.cniPath = "static-probe", t.TempDir()+":/usr/lib/cni"
	probeLog := filepath.Join(t.TempDir(), "veth-at-ipam-del")
	probe := fmt.Sprintf("#!/bin/sh\nif [ \"$CNI_COMMAND\" = DEL ]; then\n  if ip link show dev %s >/dev/null 2>&1; then echo present; else echo absent; fi >>%s\nfi\nexec /usr/lib/cni/static\n", b.hostVeth(), probeLog)
	if err := os.WriteFile(filepath.Join(strings.Split(b.cniPath, ":")[0], "static-probe"), []byte(probe), 0o755); err != nil {
		t.Fatal(err)
	}

	// Whatever the node's defaults for new interfaces, the host end gets its IPv6
	// link-local address, the pods' gateway: a's node gives them no IPv6 at all,
	nodeSysctl(t, node, "net.ipv6.conf.default.disable_ipv6=1")
	a.add(t, node) // then again, as a runtime retries: the first attempt's veth is replaced
	resultA := a.add(t, node)
	// b's no link-local address.
	nodeSysctl(t, node, "net.ipv6.conf.default.disable_ipv6=0", "net.ipv6.conf.default.addr_gen_mode=1")
	b.add(t, node)

	checkResult(t, a, resultA)
	for _, p := range []testPod{a, b} {
		checkPod(t, p)
		checkNode(t, node, p)
	}
	for _, ping := range [][]string{
		{"ip", "netns", "exec", a.netns, "ping", "-c1", "-W2", b.ipv4},
		{"ip", "netns", "exec", a.netns, "ping", "-6", "-c1", "-W2", b.ipv6},
		{"ip", "netns", "exec", node, "ping", "-c1", "-W2", a.ipv4},
		{"ip", "netns", "exec", node, "ping", "-6", "-c1", "-W2", a.ipv6},
		{"ip", "netns", "exec", node, "ping", "-c1", "-W2", b.ipv4},
		{"ip", "netns", "exec", node, "ping", "-6", "-c1", "-W2", b.ipv6},
	} {
		sh(t, ping...)
	}

	if rc, out := a.cni(t, node, "CHECK", resultA); rc != 0 {
		t.Errorf("CHECK of a healthy pod: exit %d: %s", rc, out)
	}
	sh(t, "ip", "-n", node, "route", "del", a.ipv4+"/32")
	if rc, out := a.cni(t, node, "CHECK", resultA); rc != 1 || !strings.Contains(out, "no route to "+a.ipv4+"/32") {
		t.Errorf("CHECK without the host route: exit %d: %s; want exit 1 naming the route", rc, out)
	}

	for _, p := range []testPod{a, b} {
		for i := 1; i <= 2; i++ { // the second DEL finds nothing to do, and succeeds
			if rc, out := p.cni(t, node, "DEL", ""); rc != 0 || out != "" {
				t.Errorf("DEL #%d of %s: exit %d: %s", i, p.id, rc, out)
			}
		}
		if linkExists(node, p.hostVeth()) {
			t.Errorf("host veth %s outlived DEL", p.hostVeth())
		}
		if routes := sh(t, "ip", "-n", node, "route", "show", p.ipv4+"/32") + sh(t, "ip", "-n", node, "-6", "route", "show", p.ipv6+"/128"); routes != "" {
			t.Errorf("host routes of %s outlived DEL: %s", p.id, routes)
		}
	}
	// The address is released after its route is gone, never before.
	if log, _ := os.ReadFile(probeLog); strings.Join(strings.Fields(string(log)), ",") != "absent,absent" {
		t.Errorf("b's host veth at each IPAM DEL: %q; want absent,absent: DEL deletes the veth first", log)
	}
}

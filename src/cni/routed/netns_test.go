//go:build linux

package main

// The plugin, built and run as a runtime runs it, against real network namespaces, with
// Debian's `static` IPAM plugin as the delegate. Everything happens in namespaces of the
// test's own, the "node" included: the machine's real routing table (which a BGP daemon
// may be announcing from) and its forwarding switches are never touched.

import (
	"encoding/json"
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
// (proxy ARP answers for 169.254.1.1 only if it routes elsewhere), forwarding off.
func newNode(t *testing.T, name string) string {
	newNetns(t, name)
	for _, cmd := range []string{
		// A veth pair is the uplink: every kernel that runs the plugin has veth.
		"link set lo up", "link add uplink type veth peer name uplink-peer", "link set uplink-peer up", "link set uplink up",
		"addr add 10.250.0.1/32 dev uplink", "addr add fd50::1/128 dev uplink nodad",
		"route add default dev uplink", "-6 route add default dev uplink",
	} {
		sh(t, append([]string{"ip", "-n", name}, strings.Fields(cmd)...)...)
	}
	for _, s := range []string{"net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"} {
		sh(t, "ip", "netns", "exec", name, "sysctl", "-qw", s)
	}
	return name
}

type testPod struct {
	id, netns, ipv4, ipv6 string
}

func (p testPod) conf(prevResult string) string {
	prev := ""
	if prevResult != "" {
		prev = `,"prevResult":` + prevResult
	}
	return `{"cniVersion":"1.0.0","name":"pinpool","type":"pinpool-routed","mtu":1500` + prev +
		`,"ipam":{"type":"static","addresses":[{"address":"` + p.ipv4 + `/24"},{"address":"` + p.ipv6 + `/64"}]}}`
}

func (p testPod) hostVeth() string { return hostVethName(p.id, "eth0") }

// cni runs the plugin in node's namespace, as the runtime on that node would.
func (p testPod) cni(t *testing.T, node, command, prevResult string) (int, string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", node, pluginBin)
	cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID="+p.id, "CNI_NETNS=/var/run/netns/"+p.netns,
		"CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni", "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME="+p.id)
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
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates network namespaces, veths and routes (the CI runs the tests as root)")
	}
	if _, err := os.Stat("/usr/lib/cni/static"); err != nil {
		t.Fatalf("Debian's static IPAM plugin is the delegate: %v (apt-get install containernetworking-plugins)", err)
	}
	prefix := fmt.Sprintf("pinrt%d", os.Getpid())
	node := newNode(t, prefix+"-node")
	a := testPod{id: prefix + "-a", netns: newNetns(t, prefix+"-a"), ipv4: "10.251.1.5", ipv6: "fd51::5"}
	b := testPod{id: prefix + "-b", netns: newNetns(t, prefix+"-b"), ipv4: "10.252.9.7", ipv6: "fd52::7"}

	a.add(t, node) // then again, as a runtime retries: the first attempt's veth is replaced
	resultA := a.add(t, node)
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
		if exec.Command("ip", "-n", node, "link", "show", p.hostVeth()).Run() == nil {
			t.Errorf("host veth %s outlived DEL", p.hostVeth())
		}
		if routes := sh(t, "ip", "-n", node, "route", "show", p.ipv4+"/32") + sh(t, "ip", "-n", node, "-6", "route", "show", p.ipv6+"/128"); routes != "" {
			t.Errorf("host routes of %s outlived DEL: %s", p.id, routes)
		}
	}
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
	for path, want := range map[string]string{
		"ipv4/conf/" + veth + "/proxy_arp":    "1",
		"ipv4/neigh/" + veth + "/proxy_delay": "0",
		"ipv6/conf/" + veth + "/accept_dad":   "0",
		"ipv4/ip_forward":                     "1",
		"ipv6/conf/all/forwarding":            "1",
	} {
		if got := strings.TrimSpace(sh(t, "ip", "netns", "exec", node, "cat", "/proc/sys/net/"+path)); got != want {
			t.Errorf("node: %s = %s, want %s", path, got, want)
		}
	}
}

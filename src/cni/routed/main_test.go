//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const testConf = `{"cniVersion":"1.0.0","name":"pinpool","type":"pinpool-routed","mtu":1500,"ipam":{"type":"fake-ipam"}}`

// fakeIPAM installs an IPAM plugin that records its stdin and commands in dir and answers
// every command with reply and exit code rc. It returns the CNI_PATH to find it in.
func fakeIPAM(t *testing.T, reply string, rc int) (cniPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	script := "#!/bin/sh\ncat >\"$FAKE_DIR/stdin\"\necho \"$CNI_COMMAND\" >>\"$FAKE_DIR/commands\"\nprintf '%s' \"$FAKE_REPLY\"\nexit $FAKE_RC\n"
	if err := os.WriteFile(filepath.Join(dir, "fake-ipam"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_DIR", dir)
	t.Setenv("FAKE_REPLY", reply)
	t.Setenv("FAKE_RC", strconv.Itoa(rc))
	return "/nonexistent:" + dir, dir
}

func commands(t *testing.T, dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "commands"))
	return strings.Join(strings.Fields(string(b)), ",")
}

// invoke runs the plugin in-process with the test's environment plus vars.
func invoke(t *testing.T, vars map[string]string, stdin string) (int, string) {
	t.Helper()
	environ := os.Environ()
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	var out bytes.Buffer
	rc := run(environ, strings.NewReader(stdin), &out, io.Discard)
	return rc, out.String()
}

func pod(command, cniPath string) map[string]string {
	return map[string]string{"CNI_COMMAND": command, "CNI_CONTAINERID": "unit-test-" + command, "CNI_NETNS": "/proc/self/ns/net",
		"CNI_IFNAME": "eth0", "CNI_PATH": cniPath, "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p"}
}

func errorCode(t *testing.T, out string) (int, string) {
	t.Helper()
	var e cniError
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("stdout is not a CNI error: %q", out)
	}
	return e.Code, e.Msg + ": " + e.Details
}

func TestVersion(t *testing.T) {
	rc, out := invoke(t, map[string]string{"CNI_COMMAND": "VERSION"}, "")
	if want := `{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}`; rc != 0 || strings.TrimSpace(out) != want {
		t.Errorf("VERSION = %d %s, want %s", rc, out, want)
	}
}

func TestInvalidInput(t *testing.T) {
	cniPath, _ := fakeIPAM(t, "", 0)
	noNetns := pod("ADD", cniPath)
	delete(noNetns, "CNI_NETNS")
	badIf := pod("ADD", cniPath)
	badIf["CNI_IFNAME"] = "eth0:1"
	notNetns := pod("ADD", cniPath)
	notNetns["CNI_NETNS"] = filepath.Join(t.TempDir(), "plain-file")
	os.WriteFile(notNetns["CNI_NETNS"], nil, 0o644)
	noPath := pod("DEL", cniPath)
	delete(noPath, "CNI_PATH")
	for _, c := range []struct {
		name  string
		env   map[string]string
		conf  string
		code  int
		about string
	}{
		{"bad JSON", pod("ADD", cniPath), `{"cniVersion":`, codeDecodeFailure, "not valid JSON"},
		{"unsupported version", pod("ADD", cniPath), `{"cniVersion":"0.2.0","ipam":{"type":"fake-ipam"}}`, codeIncompatibleVersion, "0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"},
		{"no ipam.type", pod("ADD", cniPath), `{"cniVersion":"1.0.0"}`, codeInvalidConfig, "ipam.type"},
		{"ipam.type a path", pod("ADD", cniPath), `{"cniVersion":"1.0.0","ipam":{"type":"../x"}}`, codeInvalidConfig, "ipam.type"},
		{"mtu out of range", pod("ADD", cniPath), `{"cniVersion":"1.0.0","mtu":20,"ipam":{"type":"fake-ipam"}}`, codeInvalidConfig, "68 to 65535"},
		{"mtu a string", pod("ADD", cniPath), `{"cniVersion":"1.0.0","mtu":"1500","ipam":{"type":"fake-ipam"}}`, codeInvalidConfig, "wrong type"},
		{"no CNI_NETNS", noNetns, testConf, codeInvalidEnvironment, "CNI_NETNS"},
		{"bad CNI_IFNAME", badIf, testConf, codeInvalidEnvironment, "CNI_IFNAME"},
		{"no CNI_PATH", noPath, testConf, codeInvalidEnvironment, "CNI_PATH"},
		{"unknown command", pod("RESET", cniPath), testConf, codeInvalidEnvironment, "RESET"},
		{"CHECK before 0.4.0", pod("CHECK", cniPath), `{"cniVersion":"0.3.1","ipam":{"type":"fake-ipam"}}`, codeIncompatibleVersion, "0.4.0"},
		{"IPAM plugin not found", pod("ADD", cniPath), `{"cniVersion":"1.0.0","ipam":{"type":"nope"}}`, codeInvalidConfig, "nope"},
		{"CNI_NETNS not a namespace", notNetns, testConf, codeInvalidEnvironment, "not a namespace"},
		{"CHECK without prevResult", pod("CHECK", cniPath), testConf, codeInvalidConfig, "prevResult"},
	} {
		rc, out := invoke(t, c.env, c.conf)
		code, msg := errorCode(t, out)
		if rc != 1 || code != c.code || !strings.Contains(msg, c.about) {
			t.Errorf("%s: exit %d, code %d %q; want exit 1, code %d mentioning %q", c.name, rc, code, msg, c.code, c.about)
		}
	}
}

func TestUnsupportedVersionIsAnsweredInTheLatest(t *testing.T) {
	_, out := invoke(t, pod("ADD", "/x"), `{"cniVersion":"9.9.9","ipam":{"type":"fake-ipam"}}`)
	if !strings.Contains(out, `"cniVersion":"1.1.0"`) {
		t.Errorf("error %s is not in cniVersion 1.1.0", out)
	}
}

func TestIPAMErrorIsPassedThroughUnchanged(t *testing.T) {
	ipamErr := `{ "cniVersion": "1.0.0", "code": 11, "msg": "try again later", "details": "agent busy" }`
	cniPath, dir := fakeIPAM(t, ipamErr, 1)
	rc, out := invoke(t, pod("ADD", cniPath), testConf)
	if rc != 1 || out != ipamErr {
		t.Errorf("ADD = %d %q, want 1 and the IPAM plugin's error byte for byte", rc, out)
	}
	if stdin, _ := os.ReadFile(filepath.Join(dir, "stdin")); string(stdin) != testConf {
		t.Errorf("the IPAM plugin got %q on stdin, want the network configuration unchanged", stdin)
	}
	// A failed IPAM ADD allocated nothing: there is nothing to release.
	if got := commands(t, dir); got != "ADD" {
		t.Errorf("IPAM commands %s, want ADD", got)
	}
	rc, out = invoke(t, pod("DEL", cniPath), testConf)
	if rc != 1 || out != ipamErr {
		t.Errorf("DEL = %d %q, want 1 and the IPAM plugin's error byte for byte", rc, out)
	}
}

func TestIPAMFailureWithoutACNIError(t *testing.T) {
	cniPath, _ := fakeIPAM(t, "segfault", 1)
	_, out := invoke(t, pod("ADD", cniPath), testConf)
	if code, msg := errorCode(t, out); code != codeOther || !strings.Contains(msg, "segfault") {
		t.Errorf("got code %d %q, want 999 quoting the IPAM plugin's output", code, msg)
	}
}

func TestUnusableIPAMResultIsReleased(t *testing.T) {
	cniPath, dir := fakeIPAM(t, `{"cniVersion":"1.0.0","ips":[]}`, 0)
	rc, out := invoke(t, pod("ADD", cniPath), testConf)
	if code, _ := errorCode(t, out); rc != 1 || code != codeInvalidConfig {
		t.Errorf("ADD = %d %s, want exit 1 and code 7", rc, out)
	}
	if got := commands(t, dir); got != "ADD,DEL" {
		t.Errorf("IPAM commands %s, want ADD,DEL: the allocation must be released", got)
	}
}

func TestDelWithoutAVethSucceeds(t *testing.T) {
	cniPath, dir := fakeIPAM(t, "", 0)
	for i := 0; i < 2; i++ {
		if rc, out := invoke(t, pod("DEL", cniPath), testConf); rc != 0 || out != "" {
			t.Errorf("DEL #%d = %d %q, want 0 and no output", i+1, rc, out)
		}
	}
	if got := commands(t, dir); got != "DEL,DEL" {
		t.Errorf("IPAM commands %s, want DEL,DEL", got)
	}
}

func TestStatusAndGCAreDelegated(t *testing.T) {
	cniPath, dir := fakeIPAM(t, "", 0)
	conf := `{"cniVersion":"1.1.0","name":"pinpool","type":"pinpool-routed","ipam":{"type":"fake-ipam"}}`
	for _, command := range []string{"STATUS", "GC"} {
		if rc, out := invoke(t, map[string]string{"CNI_COMMAND": command, "CNI_PATH": cniPath}, conf); rc != 0 || out != "" {
			t.Errorf("%s = %d %q, want 0 and no output", command, rc, out)
		}
	}
	if got := commands(t, dir); got != "STATUS,GC" {
		t.Errorf("IPAM commands %s, want STATUS,GC", got)
	}
}

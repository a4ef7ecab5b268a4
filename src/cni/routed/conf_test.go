//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidIfName(t *testing.T) {
	for name, want := range map[string]string{
		"":                 "CNI_IFNAME is not set",
		"eth%d":            `"eth%d": '%' is the kernel's placeholder`,
		"a/b":              `"a/b": '/' and ':' are not allowed`,
		"eth0:1":           `"eth0:1": '/' and ':' are not allowed`,
		"eth 0":            `"eth 0": whitespace`,
		"eth\t0":           `"eth\t0": whitespace`,
		".":                `".": a directory's name`,
		"..":               `"..": a directory's name`,
		"abcdefghijklmnop": `"abcdefghijklmnop": 16 bytes, more than the kernel's limit of 15`,
	} {
		cerr := validIfName(name)
		if cerr == nil || cerr.Code != codeInvalidEnvironment || !strings.Contains(cerr.Msg+": "+cerr.Details, want) {
			t.Errorf("validIfName(%q) = %v; want code 4 and %q", name, cerr, want)
		}
	}
	for _, name := range []string{"eth0", "net1", "abcdefghijklmno", "eth-0_a.b"} {
		if cerr := validIfName(name); cerr != nil {
			t.Errorf("validIfName(%q) = %v; want nil", name, cerr)
		}
	}
}

func TestIPAMTypeIsNotThisPlugin(t *testing.T) {
	for _, conf := range []string{
		`{"cniVersion":"1.0.0","type":"pinpool-routed","ipam":{"type":"pinpool-routed"}}`,
		`{"cniVersion":"1.0.0","ipam":{"type":"pinpool-routed"}}`,
		`{"cniVersion":"1.0.0","type":"routed-renamed","ipam":{"type":"routed-renamed"}}`,
	} {
		_, cerr := parseConf([]byte(conf))
		if cerr == nil || cerr.Code != codeInvalidConfig || !strings.Contains(cerr.Msg, "ipam.type is this plugin") || !strings.Contains(cerr.Details, `"`) {
			t.Errorf("%s: got %v; want code 7 naming ipam.type and its value", conf, cerr)
		}
	}
}

func TestConfigurationOverOneMiBIsRefused(t *testing.T) {
	cniPath, dir := fakeIPAM(t, "", 0)
	// Valid JSON throughout: cut off at 1 MiB it would still parse, as if it were whole.
	big := testConf + strings.Repeat(" ", 1<<20)
	rc, out := invoke(t, pod("ADD", cniPath), big)
	if code, msg := errorCode(t, out); rc != 1 || code != codeInvalidConfig || !strings.Contains(msg, "the network configuration on stdin is larger than 1 MiB") {
		t.Errorf("ADD with %d bytes = %d, code %d %q; want exit 1, code 7, larger than 1 MiB", len(big), rc, code, msg)
	}
	if got := commands(t, dir); got != "" {
		t.Errorf("IPAM commands %s, want none", got)
	}
	// Exactly 1 MiB is still read.
	fits := testConf + strings.Repeat(" ", 1<<20-len(testConf))
	if _, out := invoke(t, pod("ADD", cniPath), fits); strings.Contains(out, "larger than 1 MiB") {
		t.Errorf("a configuration of exactly 1 MiB was refused: %s", out)
	}
}

func TestCNIPathSkipsEmptyAndRelativeEntries(t *testing.T) {
	_, dir := fakeIPAM(t, "", 0)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// From dir, "" and "." would find dir's fake-ipam, and "../x" the one in x.
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	rel := filepath.Join("..", filepath.Base(dir))
	path, err := findPlugin("fake-ipam", ":.:"+rel+":/nonexistent")
	if err == nil || path != "" {
		t.Fatalf("findPlugin found %q through a relative CNI_PATH entry; want not found", path)
	}
	if msg := err.Error(); !strings.Contains(msg, `skipped "", ".", "`+rel+`"`) || !strings.Contains(msg, "/nonexistent") {
		t.Errorf("error %q does not say which entries were skipped and which searched", msg)
	}
	if path, err := findPlugin("fake-ipam", "::"+dir); err != nil || path != filepath.Join(dir, "fake-ipam") {
		t.Errorf("findPlugin with an absolute entry after empty ones = %q, %v", path, err)
	}
	if _, err := findPlugin("fake-ipam", "rel"); err == nil || !strings.Contains(err.Error(), "no absolute directory") {
		t.Errorf("CNI_PATH without an absolute entry: %v", err)
	}
}

//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestHostEndGetsIPv6WhateverTheDefaults(t *testing.T) {
	s := hostVethSysctls("pinabc", false, true)
	index := func(leaf, value string) int {
		return slices.Index(s, sysctl{"/proc/sys/net/ipv6/conf/pinabc/" + leaf, value})
	}
	for _, want := range []struct{ leaf, value string }{{"disable_ipv6", "0"}, {"addr_gen_mode", "0"}, {"accept_dad", "0"}, {"accept_ra", "0"}, {"forwarding", "1"}} {
		if index(want.leaf, want.value) < 0 {
			t.Errorf("the host end of an IPv6 pod lacks %s=%s: %v", want.leaf, want.value, s)
		}
	}
	// DAD is off before the link-local address can appear.
	if index("accept_dad", "0") > index("addr_gen_mode", "0") {
		t.Errorf("accept_dad is written after addr_gen_mode: %v", s)
	}
	for _, x := range hostVethSysctls("pinabc", true, false) {
		if strings.Contains(x.path, "ipv6") {
			t.Errorf("an IPv4-only pod's host end gets %s", x.path)
		}
	}
}

func TestPluginNeverWritesIPv6Forwarding(t *testing.T) {
	if got := globalForwarding(true); !slices.Equal(got, []string{"/proc/sys/net/ipv4/ip_forward"}) {
		t.Errorf("globalForwarding = %v, want only IPv4's ip_forward", got)
	}
	if got := globalForwarding(false); len(got) != 0 {
		t.Errorf("an IPv6-only pod turns on %v", got)
	}
}

func TestCheckIPv6Forwarding(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forwarding")
	os.WriteFile(path, []byte("0\n"), 0o644)
	err := checkIPv6Forwarding(path)
	want := "net.ipv6.conf.all.forwarding is 0 (code 999): the node must forward IPv6 for routed pods (sysctl -w net.ipv6.conf.all.forwarding=1, with accept_ra=2 on interfaces that take router advertisements)"
	if err == nil || err.Error() != want {
		t.Errorf("forwarding 0: %v; want %s", err, want)
	}
	if b, _ := os.ReadFile(path); string(b) != "0\n" {
		t.Errorf("the check wrote %q", b)
	}
	os.WriteFile(path, []byte("1\n"), 0o644)
	if err := checkIPv6Forwarding(path); err != nil {
		t.Errorf("forwarding 1: %v", err)
	}
	if err := checkIPv6Forwarding(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "must forward IPv6") {
		t.Errorf("no forwarding switch: %v", err)
	}
}

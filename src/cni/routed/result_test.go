//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseResultOfEachVersion(t *testing.T) {
	for name, out := range map[string]string{
		"0.3.1": `{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.1.0.5/24","gateway":"10.1.0.1"},{"version":"6","address":"fd51::5/64"}],"dns":{"nameservers":["10.96.0.10"]}}`,
		"1.0.0": `{"cniVersion":"1.0.0","ips":[{"address":"10.1.0.5/24","gateway":"10.1.0.1","interface":0},{"address":"fd51::5/64"}],"dns":{"nameservers":["10.96.0.10"]}}`,
	} {
		res, err := parseResult([]byte(out), "the IPAM plugin's result")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := []netip.Addr{netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("fd51::5")}
		if !reflect.DeepEqual(res.addrs, want) {
			t.Errorf("%s: addresses %v, want %v", name, res.addrs, want)
		}
		if string(res.dns) != `{"nameservers":["10.96.0.10"]}` {
			t.Errorf("%s: dns %s was not passed through", name, res.dns)
		}
	}
}

func TestParseResultErrors(t *testing.T) {
	for out, code := range map[string]int{
		`not json`:                                codeDecodeFailure,
		`{"cniVersion":"1.0.0","ips":[]}`:         codeInvalidConfig,
		`{"cniVersion":"1.0.0"}`:                  codeInvalidConfig,
		`{"ips":[{"address":"10.1.0.5"}]}`:        codeDecodeFailure,
		`{"ips":[{"address":"fe80::1%eth0/64"}]}`: codeDecodeFailure,
	} {
		_, err := parseResult([]byte(out), "result")
		var cerr *cniError
		if !errors.As(err, &cerr) || cerr.Code != code {
			t.Errorf("%s: got %v, want code %d", out, err, code)
		}
	}
}

func TestParseResultRefusesAddressesNoPodMayHave(t *testing.T) {
	for addr, why := range map[string]string{
		"0.0.0.0/24":                   "0.0.0.0, which is unspecified",
		"::/64":                        "::, which is unspecified",
		"127.0.0.5/8":                  "127.0.0.5, which is a loopback address",
		"::1/128":                      "::1, which is a loopback address",
		"::ffff:127.0.0.1/104":         "127.0.0.1, which is a loopback address",
		"224.0.0.5/32":                 "224.0.0.5, which is a multicast address",
		"ff02::1/64":                   "ff02::1, which is a multicast address",
		"169.254.1.1/32":               "169.254.1.1, which is the pods' IPv4 gateway",
		"169.254.7.9/16":               "169.254.7.9, which is link-local",
		"fe80::ecee:eeff:feee:eeee/64": "fe80::ecee:eeff:feee:eeee, which is link-local",
		"febf::1/64":                   "febf::1, which is link-local",
		"255.255.255.255/32":           "255.255.255.255, which is the IPv4 broadcast address",
	} {
		_, err := parseResult([]byte(`{"ips":[{"address":"10.1.0.5/24"},{"address":"`+addr+`"}]}`), "result")
		var cerr *cniError
		if !errors.As(err, &cerr) || cerr.Code != codeInvalidConfig || !strings.Contains(cerr.Msg, "result has address "+why) || !strings.Contains(cerr.Details, "must be a unicast address") {
			t.Errorf("%s: got %v; want code 7: %q and what is allowed", addr, err, why)
		}
	}
	for _, addr := range []string{"10.1.0.5/24", "fd00::5/64", "169.253.255.255/16", "fec0::1/64", "100.64.0.1/10"} {
		if _, err := parseResult([]byte(`{"ips":[{"address":"`+addr+`"}]}`), "result"); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestParseResultRefusesAnAddressTwice(t *testing.T) {
	_, err := parseResult([]byte(`{"ips":[{"address":"10.1.0.5/24"},{"address":"::ffff:10.1.0.5/120"}]}`), "result")
	var cerr *cniError
	if !errors.As(err, &cerr) || cerr.Code != codeInvalidConfig || !strings.Contains(cerr.Msg, "10.1.0.5 twice") {
		t.Errorf("got %v; want code 7 naming 10.1.0.5", err)
	}
}

func TestParseResultUnmapsIPv4InIPv6(t *testing.T) {
	res, err := parseResult([]byte(`{"ips":[{"address":"::ffff:10.1.0.5/120"}],"dns":null}`), "result")
	if err != nil || !res.addrs[0].Is4() || res.dns != nil {
		t.Errorf("got %v, %v; want an IPv4 address and no dns", res, err)
	}
}

func sampleAttachment() attachment {
	return attachment{hostVeth: "pin9d48f381831a", ifName: "eth0", netns: "/var/run/netns/p", podMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		addrs: []netip.Addr{netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("fd51::5")}, dns: json.RawMessage(`{"nameservers":["10.96.0.10"]}`)}
}

func TestFormatResult(t *testing.T) {
	for version, want := range map[string]string{
		"0.3.1": `{"cniVersion":"0.3.1","interfaces":[{"name":"pin9d48f381831a","mac":"ee:ee:ee:ee:ee:ee"},{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/var/run/netns/p"}],` +
			`"ips":[{"version":"4","interface":1,"address":"10.1.0.5/32","gateway":"169.254.1.1"},{"version":"6","interface":1,"address":"fd51::5/128","gateway":"fe80::ecee:eeff:feee:eeee"}],` +
			`"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}],"dns":{"nameservers":["10.96.0.10"]}}`,
		"1.0.0": `{"cniVersion":"1.0.0","interfaces":[{"name":"pin9d48f381831a","mac":"ee:ee:ee:ee:ee:ee"},{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/var/run/netns/p"}],` +
			`"ips":[{"interface":1,"address":"10.1.0.5/32","gateway":"169.254.1.1"},{"interface":1,"address":"fd51::5/128","gateway":"fe80::ecee:eeff:feee:eeee"}],` +
			`"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}],"dns":{"nameservers":["10.96.0.10"]}}`,
	} {
		got, err := json.Marshal(formatResult(version, sampleAttachment()))
		if err != nil || string(got) != want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", version, got, err, want)
		}
	}
}

func TestFormatResultOfOneFamily(t *testing.T) {
	a := sampleAttachment()
	a.addrs, a.dns = a.addrs[1:], nil
	got, _ := json.Marshal(formatResult("1.1.0", a))
	var r map[string]any
	json.Unmarshal(got, &r)
	if _, ok := r["dns"]; ok {
		t.Errorf("dns printed though the IPAM plugin gave none: %s", got)
	}
	if routes := r["routes"].([]any); len(routes) != 1 || routes[0].(map[string]any)["dst"] != "::/0" {
		t.Errorf("routes of an IPv6-only pod: %v", routes)
	}
}

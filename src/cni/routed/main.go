//go:build linux

// Command pinpool-routed is a CNI main plugin with Calico's routed data plane: each pod
// gets a veth whose host end is its only gateway (169.254.1.1 answered by proxy ARP, and
// the host end's IPv6 link-local address), and the host routes each pod address to its
// veth with a /32 or /128 that a BGP daemon (BIRD's `learn`) announces to the underlay.
// Debian's ptp plugin cannot build this: it adds the default route via 169.254.1.1
// before that gateway is on-link, and fails with "network is unreachable".
//
// IPAM is delegated to the plugin named in ipam.type (pinpool's, in production).
// Go's standard library only: netlink messages are encoded by hand (netlink.go).
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}

// maxConfSize bounds the network configuration read from stdin: a runaway writer must
// not make the plugin hold gigabytes; and a configuration cut off at the limit must not be
// parsed as if it were whole.
const maxConfSize = 1 << 20

// plugin is one invocation: the network configuration, its raw bytes (handed to the IPAM
// plugin unchanged) and the environment.
type plugin struct {
	conf   netConf
	env    cniEnv
	stdin  []byte
	stderr io.Writer
}

// run executes one CNI command and returns the exit code.
func run(environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := readEnv(environ)
	if env.command == "VERSION" {
		return writeJSON(stdout, map[string]any{"cniVersion": latestVersion, "supportedVersions": supportedVersions})
	}
	// One byte over the limit tells a configuration that is too large from one that fits.
	raw, err := io.ReadAll(io.LimitReader(stdin, maxConfSize+1))
	if err != nil {
		return report(stdout, "", &cniError{Code: codeIOFailure, Msg: "cannot read the network configuration from stdin", Details: err.Error()})
	}
	if len(raw) > maxConfSize {
		return report(stdout, "", &cniError{Code: codeInvalidConfig, Msg: "the network configuration on stdin is larger than 1 MiB",
			Details: "expected at most 1048576 bytes: a configuration with a prevResult is a few kilobytes"})
	}
	conf, cerr := parseConf(raw)
	if cerr == nil {
		cerr = env.validate()
	}
	if cerr == nil {
		cerr = conf.allows(env.command)
	}
	if cerr != nil {
		return report(stdout, conf.CNIVersion, cerr)
	}
	p := &plugin{conf: conf, env: env, stdin: raw, stderr: stderr}
	result, err := p.dispatch()
	if err != nil {
		return report(stdout, conf.CNIVersion, err)
	}
	if result != nil {
		return writeJSON(stdout, result)
	}
	return 0
}

// dispatch runs the command; only ADD has a result to print.
func (p *plugin) dispatch() (*cniResult, error) {
	switch p.env.command {
	case "ADD":
		return p.cmdAdd()
	case "DEL":
		return nil, p.cmdDel()
	case "CHECK":
		return nil, p.cmdCheck()
	default: // STATUS and GC: the IPAM plugin's business alone
		_, err := p.delegate(p.env.command)
		return nil, err
	}
}

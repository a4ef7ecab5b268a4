//go:build linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
)

// cmdCheck asks the IPAM plugin to check the addresses, then checks the host's side of
// the attachment: the host end is up and routes each address of prevResult.
func (p *plugin) cmdCheck() error {
	if len(p.conf.PrevResult) == 0 {
		return &cniError{Code: codeInvalidConfig, Msg: "prevResult is missing", Details: "CHECK needs the result of ADD in the network configuration's prevResult"}
	}
	prev, err := parseResult(p.conf.PrevResult, "prevResult")
	if err != nil {
		return err
	}
	if _, err := p.delegate("CHECK"); err != nil {
		return err
	}
	return checkHostSide(hostVethName(p.env.containerID, p.env.ifName), prev.addrs)
}

func checkHostSide(name string, addrs []netip.Addr) error {
	host, err := dialNetlink()
	if err != nil {
		return err
	}
	defer host.close()
	l, err := host.linkByName(name)
	if errors.Is(err, syscall.ENODEV) {
		return &cniError{Code: codeOther, Msg: "the pod's host veth " + name + " does not exist", Details: "it is deleted with the pod's network namespace or by DEL; expected it to exist until DEL"}
	}
	if err != nil {
		return err
	}
	if !l.up {
		return &cniError{Code: codeOther, Msg: "the pod's host veth " + name + " is down", Details: "ADD sets it up; expected it up"}
	}
	for _, ip := range addrs {
		dsts, err := host.destinationsVia(family(ip), l.index)
		if err != nil {
			return err
		}
		if want := netip.PrefixFrom(ip, ip.BitLen()); !slices.Contains(dsts, want) {
			return &cniError{Code: codeOther, Msg: fmt.Sprintf("the host has no route to %s via %s", want, name),
				Details: fmt.Sprintf("routes via %s: %v; expected %s (added by ADD)", name, dsts, want)}
		}
	}
	return nil
}

//go:build linux

package main

import "fmt"

// cmdDel deletes the host end first, which takes the pair and its routes with it, then
// releases the address: in this order the address is not free while its /32 (or /128)
// still leads to the old veth, a route the next pod to get the address could not take
// (ADD refuses a route in use). The address is released always, even when the pod's
// namespace is gone or the veth could not be deleted: it is what outlives a sandbox, and
// a DEL that kept it would leak it. DEL is idempotent: nothing left to delete is success.
func (p *plugin) cmdDel() error {
	vethErr := removeHostVeth(hostVethName(p.env.containerID, p.env.ifName))
	_, ipamErr := p.delegate("DEL")
	if ipamErr == nil {
		return vethErr
	}
	if vethErr != nil {
		fmt.Fprintf(p.stderr, "pinpool-routed: also failed to delete the host veth: %v\n", vethErr)
	}
	return ipamErr
}

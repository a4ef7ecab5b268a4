//go:build linux

package main

import "fmt"

// cmdDel releases the address first and always, even when the pod's namespace is gone:
// the address is what outlives a sandbox. Then the host end goes, which takes the pair and
// its routes with it. DEL is idempotent: nothing left to delete is success.
func (p *plugin) cmdDel() error {
	_, ipamErr := p.delegate("DEL")
	vethErr := removeHostVeth(hostVethName(p.env.containerID, p.env.ifName))
	if ipamErr == nil {
		return vethErr
	}
	if vethErr != nil {
		fmt.Fprintf(p.stderr, "pinpool-routed: also failed to delete the host veth: %v\n", vethErr)
	}
	return ipamErr
}

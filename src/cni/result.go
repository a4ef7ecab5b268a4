package main

import (
	"net"
	"strings"
)

// formatResult renders the agent's result in the CNI version the runtime asked for:
// before 1.0.0 each IP carries "version": "4"|"6"; from 1.0.0 on it does not.
func formatResult(cniVersion string, r *agentResult) (map[string]any, *cniError) {
	legacy := strings.HasPrefix(cniVersion, "0.")
	ips := make([]map[string]any, 0, len(r.IPs))
	for _, ip := range r.IPs {
		addr, _, err := net.ParseCIDR(ip.Address)
		if err != nil {
			return nil, &cniError{Code: codeIOFailure, Msg: "the pinpool agent returned a malformed address", Details: ip.Address}
		}
		entry := map[string]any{"address": ip.Address}
		if ip.Gateway != "" {
			entry["gateway"] = ip.Gateway
		}
		if legacy {
			if addr.To4() != nil {
				entry["version"] = "4"
			} else {
				entry["version"] = "6"
			}
		}
		ips = append(ips, entry)
	}
	out := map[string]any{"cniVersion": cniVersion, "ips": ips, "dns": map[string]any{}}
	if len(r.Routes) > 0 {
		out["routes"] = r.Routes
	}
	return out, nil
}

//go:build linux

package main

// The network configuration (stdin) and the CNI environment variables.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

const latestVersion = "1.1.0"

// supportedVersions is sorted: a version's index orders it.
var supportedVersions = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// minVersion: the commands that later versions of the spec added.
var minVersion = map[string]string{"CHECK": "0.4.0", "STATUS": "1.1.0", "GC": "1.1.0"}

// pluginName is the name the plugin is installed under, the conf's type.
const pluginName = "pinpool-routed"

type netConf struct {
	CNIVersion string `json:"cniVersion"`
	Type       string `json:"type"`
	MTU        int    `json:"mtu"`
	IPAM       struct {
		Type string `json:"type"`
	} `json:"ipam"`
	PrevResult json.RawMessage `json:"prevResult"`
}

func parseConf(raw []byte) (netConf, *cniError) {
	var conf netConf
	if err := json.Unmarshal(raw, &conf); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return conf, &cniError{Code: codeInvalidConfig, Msg: "the network configuration has a field of the wrong type", Details: err.Error()}
		}
		return conf, &cniError{Code: codeDecodeFailure, Msg: "the network configuration on stdin is not valid JSON", Details: err.Error()}
	}
	if !slices.Contains(supportedVersions, conf.CNIVersion) {
		return conf, &cniError{Code: codeIncompatibleVersion, Msg: "unsupported cniVersion",
			Details: fmt.Sprintf("%q; pinpool-routed supports %s", conf.CNIVersion, strings.Join(supportedVersions, ", "))}
	}
	if conf.IPAM.Type == "" || strings.ContainsAny(conf.IPAM.Type, `/\`) || conf.IPAM.Type == "." || conf.IPAM.Type == ".." {
		return conf, &cniError{Code: codeInvalidConfig, Msg: "ipam.type is not a plugin name",
			Details: fmt.Sprintf("%q; expected the file name of an IPAM plugin in CNI_PATH, such as \"pinpool\"", conf.IPAM.Type)}
	}
	if conf.IPAM.Type == pluginName || conf.IPAM.Type == conf.Type {
		return conf, &cniError{Code: codeInvalidConfig, Msg: "ipam.type is this plugin",
			Details: fmt.Sprintf("%q; the plugin would run itself as its IPAM plugin, which would run itself again, forever; expected an IPAM plugin, such as \"pinpool\"", conf.IPAM.Type)}
	}
	if conf.MTU != 0 && (conf.MTU < 68 || conf.MTU > 65535) {
		return conf, &cniError{Code: codeInvalidConfig, Msg: "mtu is out of range",
			Details: fmt.Sprintf("%d; expected 68 to 65535, or no mtu for the kernel's default", conf.MTU)}
	}
	return conf, nil
}

// allows refuses a command that the conf's cniVersion does not have.
func (c netConf) allows(command string) *cniError {
	least, ok := minVersion[command]
	if ok && slices.Index(supportedVersions, c.CNIVersion) < slices.Index(supportedVersions, least) {
		return &cniError{Code: codeIncompatibleVersion, Msg: "cniVersion " + c.CNIVersion + " has no " + command,
			Details: command + " needs cniVersion " + least + " or later"}
	}
	return nil
}

// cniEnv is the CNI_* environment; environ is the whole environment, which the IPAM plugin
// inherits.
type cniEnv struct {
	command, containerID, netns, ifName, path string
	environ                                   []string
}

func readEnv(environ []string) cniEnv {
	// The last definition wins, as in os/exec.
	get := func(key string) string {
		value := ""
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && k == key {
				value = v
			}
		}
		return value
	}
	return cniEnv{command: get("CNI_COMMAND"), containerID: get("CNI_CONTAINERID"), netns: get("CNI_NETNS"),
		ifName: get("CNI_IFNAME"), path: get("CNI_PATH"), environ: environ}
}

func (e cniEnv) validate() *cniError {
	missing := func(name string) *cniError {
		return &cniError{Code: codeInvalidEnvironment, Msg: name + " is not set", Details: "the container runtime must set it for " + e.command}
	}
	switch e.command {
	case "ADD", "DEL", "CHECK":
		if e.containerID == "" {
			return missing("CNI_CONTAINERID")
		}
		if cerr := validIfName(e.ifName); cerr != nil {
			return cerr
		}
		if e.command == "ADD" && e.netns == "" {
			return missing("CNI_NETNS")
		}
	case "STATUS", "GC":
	case "":
		return &cniError{Code: codeInvalidEnvironment, Msg: "CNI_COMMAND is not set", Details: "expected ADD, DEL, CHECK, STATUS, GC or VERSION"}
	default:
		return &cniError{Code: codeInvalidEnvironment, Msg: "unknown CNI_COMMAND", Details: fmt.Sprintf("%q; expected ADD, DEL, CHECK, STATUS, GC or VERSION", e.command)}
	}
	if e.path == "" {
		return missing("CNI_PATH")
	}
	return nil
}

// validIfName applies the kernel's rules for interface names (dev_valid_name), and
// refuses '%', which the kernel would replace with a number of its choosing.
func validIfName(name string) *cniError {
	invalid := func(rule string) *cniError {
		return &cniError{Code: codeInvalidEnvironment, Msg: "CNI_IFNAME is not a valid interface name",
			Details: fmt.Sprintf("%q: %s; expected 1 to 15 bytes, no '%%', '/', ':' or whitespace, not \".\" or \"..\"", name, rule)}
	}
	switch {
	case name == "":
		return &cniError{Code: codeInvalidEnvironment, Msg: "CNI_IFNAME is not set", Details: "expected the name of the pod's interface, such as eth0"}
	case len(name) > 15:
		return invalid(fmt.Sprintf("%d bytes, more than the kernel's limit of 15", len(name)))
	case name == "." || name == "..":
		return invalid("a directory's name, not an interface's")
	case strings.Contains(name, "%"):
		return invalid("'%' is the kernel's placeholder for a number it chooses")
	case strings.ContainsAny(name, "/:"):
		return invalid("'/' and ':' are not allowed")
	case strings.ContainsAny(name, " \t\n\v\f\r"):
		return invalid("whitespace is not allowed")
	}
	return nil
}

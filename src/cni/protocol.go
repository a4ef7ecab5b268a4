package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// CNI error codes (CNI spec, "Error"): 1-99 are reserved by the spec; 100+ are pinpool's.
const (
	codeIncompatibleVersion = 1
	codeUnsupportedField    = 2
	codeUnknownContainer    = 3
	codeInvalidEnvironment  = 4
	codeIOFailure           = 5
	codeDecodeFailure       = 6
	codeInvalidConfig       = 7
	codeTryAgainLater       = 11
)

const latestVersion = "1.1.0"

var supportedVersions = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// defaultSocket is where the agent listens unless the network config says otherwise.
const defaultSocket = "/run/pinpool/agent.sock"

type cniError struct {
	CNIVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
	// unreachable: the agent was never heard from, or stopped answering (dial failure,
	// timeout, a cut-off answer), as opposed to an answer that says what went wrong.
	unreachable bool
}

func (e *cniError) Error() string { return fmt.Sprintf("%s (code %d): %s", e.Msg, e.Code, e.Details) }

func versionInfo() map[string]any {
	return map[string]any{"cniVersion": latestVersion, "supportedVersions": supportedVersions}
}

// netConf is the part of the network configuration pinpool reads; the agent gets it whole.
type netConf struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	IPAM       struct {
		Type   string `json:"type"`
		Socket string `json:"socket"`
	} `json:"ipam"`
}

// request is what the plugin sends the agent.
type request struct {
	Command     string            `json:"command"`
	ContainerID string            `json:"containerID"`
	Netns       string            `json:"netns,omitempty"`
	IfName      string            `json:"ifName"`
	Args        map[string]string `json:"args"`
	CNIVersion  string            `json:"cniVersion"`
	Config      json.RawMessage   `json:"config"`
	socket      string
}

func (r request) socketPath() string { return r.socket }

func supported(v string) bool {
	for _, s := range supportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// parseArgs reads CNI_ARGS ("K=V;K2=V2"). Unknown keys are an error unless IgnoreUnknown
// is set, as the reference plugins do; pinpool only reads the K8S_POD_* keys.
func parseArgs(text string) (map[string]string, *cniError) {
	args := map[string]string{}
	if text == "" {
		return args, nil
	}
	for _, pair := range strings.Split(text, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, &cniError{Code: codeInvalidEnvironment, Msg: "CNI_ARGS is malformed", Details: fmt.Sprintf("%q is not KEY=VALUE; expected KEY=VALUE pairs separated by ';'", pair)}
		}
		args[k] = v
	}
	known := map[string]bool{"IgnoreUnknown": true, "K8S_POD_NAMESPACE": true, "K8S_POD_NAME": true, "K8S_POD_UID": true, "K8S_POD_INFRA_CONTAINER_ID": true}
	if ignore := strings.ToLower(args["IgnoreUnknown"]); ignore != "1" && ignore != "true" {
		for k := range args {
			if !known[k] {
				return nil, &cniError{Code: codeInvalidEnvironment, Msg: "CNI_ARGS has an unknown key", Details: fmt.Sprintf("%q; pinpool reads K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID (set IgnoreUnknown=1 to pass others)", k)}
			}
		}
	}
	return args, nil
}

// parseRequest checks the environment and the network config for one command.
func parseRequest(command string, getenv func(string) string, raw []byte) (request, *cniError) {
	req := request{Command: command, ContainerID: getenv("CNI_CONTAINERID"), Netns: getenv("CNI_NETNS"), IfName: getenv("CNI_IFNAME"), Config: raw}
	var conf netConf
	if err := json.Unmarshal(raw, &conf); err != nil {
		return req, &cniError{Code: codeDecodeFailure, Msg: "the network configuration on stdin is not valid JSON", Details: err.Error()}
	}
	req.CNIVersion = conf.CNIVersion
	if !supported(conf.CNIVersion) {
		return req, &cniError{Code: codeIncompatibleVersion, Msg: "unsupported cniVersion", Details: fmt.Sprintf("%q; pinpool supports %s", conf.CNIVersion, strings.Join(supportedVersions, ", "))}
	}
	req.socket = conf.IPAM.Socket
	if req.socket == "" {
		req.socket = defaultSocket
	}
	switch command {
	case "ADD", "DEL", "CHECK":
		for _, v := range []struct{ name, value string }{{"CNI_CONTAINERID", req.ContainerID}, {"CNI_IFNAME", req.IfName}} {
			if v.value == "" {
				return req, &cniError{Code: codeInvalidEnvironment, Msg: v.name + " is not set", Details: "the container runtime must set it for " + command}
			}
		}
		args, cerr := parseArgs(getenv("CNI_ARGS"))
		if cerr != nil {
			return req, cerr
		}
		if args["K8S_POD_NAMESPACE"] == "" || args["K8S_POD_NAME"] == "" {
			return req, &cniError{Code: codeInvalidEnvironment, Msg: "CNI_ARGS lacks the pod", Details: "K8S_POD_NAMESPACE and K8S_POD_NAME are required (the kubelet sets them)"}
		}
		req.Args = args
	case "STATUS", "GC":
		req.Args = map[string]string{}
	case "":
		return req, &cniError{Code: codeInvalidEnvironment, Msg: "CNI_COMMAND is not set", Details: "expected ADD, DEL, CHECK, STATUS, GC or VERSION"}
	default:
		return req, &cniError{Code: codeInvalidEnvironment, Msg: "unknown CNI_COMMAND", Details: fmt.Sprintf("%q; expected ADD, DEL, CHECK, STATUS, GC or VERSION", command)}
	}
	return req, nil
}

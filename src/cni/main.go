// Command pinpool is a CNI IPAM plugin. It holds no IPAM logic: it reads the CNI request
// (environment + network config on stdin), forwards it to the pinpool agent on the node
// over a unix socket (HTTP+JSON), and prints the agent's result in the CNI version the
// runtime asked for, or a CNI error object.
//
// Go and the standard library only: a node has no Node.js runtime, and this runs once per
// pod sandbox, so it must start in milliseconds and weigh a few megabytes.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run executes one CNI command and returns the exit code.
func run(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	command := getenv("CNI_COMMAND")
	if command == "VERSION" {
		return writeJSON(stdout, versionInfo())
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return fail(stdout, "", &cniError{Code: codeIOFailure, Msg: "cannot read the network configuration from stdin", Details: err.Error()})
	}
	req, cerr := parseRequest(command, getenv, raw)
	if cerr != nil {
		return fail(stdout, req.CNIVersion, cerr)
	}
	// 90 s: an ADD on full pools may wait up to 80 s (PINPOOL_ADD_WAIT_SECONDS, default 60) for
	// an address a deleted pod releases; the kubelet gives the whole sandbox 2 min.
	client := newAgentClient(req.socketPath(), 90*time.Second)
	reply, cerr := client.call(req)
	if cerr != nil && command == "DEL" && delMayFailOpen(cerr) {
		// Fail open: a DEL that fails blocks the runtime from tearing the sandbox down, and
		// nothing is lost by succeeding, because the controller releases an address whose
		// pod is gone after its grace period. ADD and CHECK fail closed (an unchecked address
		// could be handed to two pods).
		fmt.Fprintf(stderr, "pinpool: warning: DEL of pod %s/%s succeeds anyway (%s: %s); pinpool-controller releases whatever address the pod still holds after its grace period\n",
			req.Args["K8S_POD_NAMESPACE"], req.Args["K8S_POD_NAME"], cerr.Msg, cerr.Details)
		return 0
	}
	if cerr != nil {
		return fail(stdout, req.CNIVersion, cerr)
	}
	switch command {
	case "ADD":
		out, cerr := formatResult(req.CNIVersion, reply.Result)
		if cerr != nil {
			return fail(stdout, req.CNIVersion, cerr)
		}
		return writeJSON(stdout, out)
	default:
		// DEL, CHECK, STATUS and GC print nothing on success.
		return 0
	}
}

// delMayFailOpen: the agent could not be reached, or it does not know the pod (code 3:
// nothing is recorded for this sandbox). Any other answer from the agent is passed on.
func delMayFailOpen(e *cniError) bool {
	return e.unreachable || e.Code == codeUnknownContainer
}

func writeJSON(w io.Writer, v any) int {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "pinpool: writing the result: %v\n", err)
		return 1
	}
	return 0
}

// fail prints a CNI error object, as the spec asks, and returns a non-zero exit code.
func fail(w io.Writer, cniVersion string, e *cniError) int {
	if cniVersion == "" {
		cniVersion = latestVersion
	}
	e.CNIVersion = cniVersion
	writeJSON(w, e)
	return 1
}

//go:build linux

package main

// CNI errors: the object printed on stdout when a command fails.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// CNI error codes (CNI spec, "Error").
const (
	codeIncompatibleVersion = 1
	codeInvalidEnvironment  = 4
	codeIOFailure           = 5
	codeDecodeFailure       = 6
	codeInvalidConfig       = 7
	codeOther               = 999
)

type cniError struct {
	CNIVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}

func (e *cniError) Error() string { return fmt.Sprintf("%s (code %d): %s", e.Msg, e.Code, e.Details) }

// ipamFailure is the IPAM plugin's own CNI error: it is printed exactly as the IPAM plugin
// printed it, so the runtime sees its code and message, not a paraphrase.
type ipamFailure struct {
	plugin string
	output []byte
}

func (e *ipamFailure) Error() string {
	return fmt.Sprintf("IPAM plugin %s failed: %s", e.plugin, bytes.TrimSpace(e.output))
}

// report prints err as a CNI error object and returns the exit code, 1.
func report(w io.Writer, cniVersion string, err error) int {
	var failure *ipamFailure
	if errors.As(err, &failure) {
		w.Write(failure.output)
		return 1
	}
	var cerr *cniError
	if !errors.As(err, &cerr) {
		cerr = &cniError{Code: codeOther, Msg: err.Error()}
	}
	if !slices.Contains(supportedVersions, cniVersion) {
		cniVersion = latestVersion
	}
	cerr.CNIVersion = cniVersion
	writeJSON(w, cerr)
	return 1
}

func writeJSON(w io.Writer, v any) int {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return 1
	}
	return 0
}

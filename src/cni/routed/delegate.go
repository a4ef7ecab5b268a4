//go:build linux

package main

// Running the IPAM plugin named in ipam.type, as the CNI spec has a main plugin do.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// delegate runs the IPAM plugin for command with the runtime's environment and the same
// network configuration bytes, and returns what it printed. A CNI error it prints comes
// back as an ipamFailure, to be passed on unchanged.
func (p *plugin) delegate(command string) ([]byte, error) {
	name := p.conf.IPAM.Type
	path, err := findPlugin(name, p.env.path)
	if err != nil {
		return nil, err
	}
	var stdout bytes.Buffer
	cmd := exec.Command(path)
	cmd.Env = withCommand(p.env.environ, command)
	cmd.Stdin = bytes.NewReader(p.stdin)
	cmd.Stdout = &stdout
	cmd.Stderr = p.stderr // the runtime logs it
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), nil
	case errors.As(err, &exit) && isCNIError(stdout.Bytes()):
		return nil, &ipamFailure{plugin: name, output: stdout.Bytes()}
	default:
		return nil, &cniError{Code: codeOther, Msg: fmt.Sprintf("IPAM plugin %s failed on %s without a CNI error", name, command),
			Details: fmt.Sprintf("%v; it printed %q", err, bytes.TrimSpace(stdout.Bytes()))}
	}
}

// findPlugin looks name up in CNI_PATH, in order, as the runtime looks up the main plugin.
// Empty and relative entries are skipped: they would find a file in whatever directory
// the runtime happened to start the plugin in.
func findPlugin(name, cniPath string) (string, error) {
	var searched, skipped []string
	for _, dir := range filepath.SplitList(cniPath) {
		if !filepath.IsAbs(dir) {
			skipped = append(skipped, strconv.Quote(dir))
			continue
		}
		searched = append(searched, dir)
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	details := fmt.Sprintf("no executable file %s in %s", name, strings.Join(searched, ", "))
	if len(searched) == 0 {
		details = "CNI_PATH has no absolute directory to look in"
	}
	if len(skipped) > 0 {
		details += fmt.Sprintf("; skipped %s: CNI_PATH's entries must be absolute directories", strings.Join(skipped, ", "))
	}
	return "", &cniError{Code: codeInvalidConfig, Msg: fmt.Sprintf("IPAM plugin %q (ipam.type) is not in CNI_PATH", name), Details: details}
}

// withCommand is environ with CNI_COMMAND set to command: ADD's clean-up runs the IPAM
// plugin's DEL in the environment of an ADD.
func withCommand(environ []string, command string) []string {
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CNI_COMMAND=") {
			env = append(env, kv)
		}
	}
	return append(env, "CNI_COMMAND="+command)
}

// isCNIError: out is a CNI error object, which has a non-zero code.
func isCNIError(out []byte) bool {
	var e struct {
		Code int `json:"code"`
	}
	return json.Unmarshal(out, &e) == nil && e.Code != 0
}

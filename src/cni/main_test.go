package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAgent serves the agent's socket API on a temporary unix socket, answering every
// command with `reply` and recording the requests.
func fakeAgent(t *testing.T, status int, reply string) (socket string, got *[]request) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var requests []request
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("agent got undecodable body: %v", err)
		}
		if !strings.HasSuffix(r.URL.Path, "/v1/cni/"+strings.ToLower(req.Command)) {
			t.Errorf("path %s for command %s", r.URL.Path, req.Command)
		}
		requests = append(requests, req)
		w.WriteHeader(status)
		w.Write([]byte(reply))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return socket, &requests
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func conf(version, socket string) string {
	return `{"cniVersion":"` + version + `","name":"pinpool-test","type":"bridge","ipam":{"type":"pinpool","socket":"` + socket + `"}}`
}

func podEnv(command string) map[string]string {
	return map[string]string{"CNI_COMMAND": command, "CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/p", "CNI_IFNAME": "eth0",
		"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx-1;K8S_POD_UID=u1;K8S_POD_INFRA_CONTAINER_ID=c1"}
}

func runPlugin(t *testing.T, vars map[string]string, stdin string) (int, map[string]any) {
	t.Helper()
	var out bytes.Buffer
	code := run(env(vars), strings.NewReader(stdin), &out, io.Discard)
	var parsed map[string]any
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &parsed); err != nil {
			t.Fatalf("stdout is not JSON: %q", out.String())
		}
	}
	return code, parsed
}

const addReply = `{"result":{"ips":[{"address":"10.244.100.90/16","gateway":"10.244.0.1"},{"address":"fd00::5/64"}],"routes":[{"dst":"10.96.0.0/12","gw":"10.244.0.1"}]}}`

func TestVersion(t *testing.T) {
	code, out := runPlugin(t, map[string]string{"CNI_COMMAND": "VERSION"}, "")
	if code != 0 || out["cniVersion"] != "1.1.0" || len(out["supportedVersions"].([]any)) != 5 {
		t.Fatalf("VERSION: code %d, %v", code, out)
	}
}

func TestAddPrintsTheResultInEachVersion(t *testing.T) {
	socket, got := fakeAgent(t, 200, addReply)
	for _, version := range supportedVersions {
		code, out := runPlugin(t, podEnv("ADD"), conf(version, socket))
		if code != 0 {
			t.Fatalf("%s: exit %d, %v", version, code, out)
		}
		ips := out["ips"].([]any)
		first := ips[0].(map[string]any)
		if out["cniVersion"] != version || first["address"] != "10.244.100.90/16" || first["gateway"] != "10.244.0.1" {
			t.Fatalf("%s: %v", version, out)
		}
		_, hasVersion := first["version"]
		if legacy := strings.HasPrefix(version, "0."); hasVersion != legacy {
			t.Fatalf("%s: ips[].version present=%v", version, hasVersion)
		}
		if strings.HasPrefix(version, "0.") && ips[1].(map[string]any)["version"] != "6" {
			t.Fatalf("%s: IPv6 entry %v", version, ips[1])
		}
	}
	last := (*got)[len(*got)-1]
	if last.Args["K8S_POD_NAME"] != "nginx-1" || last.ContainerID != "c1" || last.IfName != "eth0" || !json.Valid(last.Config) {
		t.Fatalf("agent got %+v", last)
	}
}

func TestDelAndCheckPrintNothingOnSuccess(t *testing.T) {
	socket, _ := fakeAgent(t, 200, `{}`)
	for _, command := range []string{"DEL", "CHECK", "STATUS", "GC"} {
		var out bytes.Buffer
		if code := run(env(podEnv(command)), strings.NewReader(conf("1.1.0", socket)), &out, io.Discard); code != 0 || out.Len() != 0 {
			t.Fatalf("%s: exit %d, stdout %q", command, code, out.String())
		}
	}
}

func TestAgentErrorsPassThrough(t *testing.T) {
	socket, _ := fakeAgent(t, 409, `{"error":{"code":102,"msg":"SpiderIPPool \"p\" is exhausted","details":"50 of 50 addresses held"}}`)
	code, out := runPlugin(t, podEnv("ADD"), conf("0.4.0", socket))
	if code == 0 || out["code"] != float64(102) || out["msg"] != `SpiderIPPool "p" is exhausted` || out["cniVersion"] != "0.4.0" {
		t.Fatalf("exit %d, %v", code, out)
	}
}

func TestBadInputsAreCNIErrors(t *testing.T) {
	socket, got := fakeAgent(t, 200, addReply)
	noPod := podEnv("ADD")
	noPod["CNI_ARGS"] = "K8S_POD_NAMESPACE=default"
	unknownArg := podEnv("ADD")
	unknownArg["CNI_ARGS"] = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=x;FOO=bar"
	malformedArg := podEnv("ADD")
	malformedArg["CNI_ARGS"] = "K8S_POD_NAMESPACE"
	noIfName := podEnv("ADD")
	delete(noIfName, "CNI_IFNAME")
	cases := []struct {
		name  string
		vars  map[string]string
		stdin string
		code  float64
		msg   string
	}{
		{"garbage stdin", podEnv("ADD"), "\x00\x01garbage", codeDecodeFailure, "the network configuration on stdin is not valid JSON"},
		{"no CNI_COMMAND", map[string]string{}, conf("1.1.0", socket), codeInvalidEnvironment, "CNI_COMMAND is not set"},
		{"unknown CNI_COMMAND", map[string]string{"CNI_COMMAND": "FLY"}, conf("1.1.0", socket), codeInvalidEnvironment, "unknown CNI_COMMAND"},
		{"unsupported version", podEnv("ADD"), conf("0.2.0", socket), codeIncompatibleVersion, "unsupported cniVersion"},
		{"no pod in CNI_ARGS", noPod, conf("1.1.0", socket), codeInvalidEnvironment, "CNI_ARGS lacks the pod"},
		{"unknown CNI_ARGS key", unknownArg, conf("1.1.0", socket), codeInvalidEnvironment, "CNI_ARGS has an unknown key"},
		{"malformed CNI_ARGS", malformedArg, conf("1.1.0", socket), codeInvalidEnvironment, "CNI_ARGS is malformed"},
		{"no CNI_IFNAME", noIfName, conf("1.1.0", socket), codeInvalidEnvironment, "CNI_IFNAME is not set"},
		{"agent unreachable", podEnv("ADD"), conf("1.1.0", filepath.Join(t.TempDir(), "none.sock")), codeTryAgainLater, "the pinpool agent is unreachable"},
	}
	for _, c := range cases {
		code, out := runPlugin(t, c.vars, c.stdin)
		if code == 0 || out["code"] != c.code || out["msg"] != c.msg {
			t.Errorf("%s: exit %d, %v; want code %v msg %q", c.name, code, out, c.code, c.msg)
		}
	}
	if len(*got) != 0 {
		t.Fatalf("bad input reached the agent: %+v", *got)
	}
}

// runWithStderr runs the plugin and returns exit code, stdout and stderr as text.
func runWithStderr(vars map[string]string, stdin string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(env(vars), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDelSucceedsWithAWarningWhenTheAgentIsUnreachable(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "none.sock") // nothing listens
	code, stdout, stderr := runWithStderr(podEnv("DEL"), conf("1.1.0", socket))
	if code != 0 || stdout != "" {
		t.Fatalf("DEL without an agent: exit %d, stdout %q; want exit 0 and nothing on stdout", code, stdout)
	}
	for _, want := range []string{"warning", "default/nginx-1", socket, "the pinpool agent is unreachable", "grace period"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not contain %q", stderr, want)
		}
	}
}

func TestDelSucceedsWhenTheAgentDoesNotKnowThePod(t *testing.T) {
	socket, got := fakeAgent(t, 409, `{"error":{"code":3,"msg":"pinpool has no addresses for pod default/nginx-1"}}`)
	code, stdout, stderr := runWithStderr(podEnv("DEL"), conf("1.1.0", socket))
	if code != 0 || stdout != "" || !strings.Contains(stderr, "pinpool has no addresses for pod default/nginx-1") {
		t.Fatalf("DEL answered with code 3: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if len(*got) != 1 {
		t.Fatalf("the agent got %d requests, want 1", len(*got))
	}
}

func TestDelPassesOnOtherAgentErrors(t *testing.T) {
	socket, _ := fakeAgent(t, 503, `{"error":{"code":11,"msg":"the pinpool agent could not complete the request","details":"releasing addresses of pod default/nginx-1: the API server answered 429"}}`)
	code, out := runPlugin(t, podEnv("DEL"), conf("1.1.0", socket))
	if code == 0 || out["code"] != float64(codeTryAgainLater) {
		t.Fatalf("DEL answered with code 11: exit %d, %v; want the error passed on", code, out)
	}
}

func TestAddAndCheckFailClosedWhenTheAgentIsUnreachable(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "none.sock")
	for _, command := range []string{"ADD", "CHECK"} {
		code, stdout, _ := runWithStderr(podEnv(command), conf("1.1.0", socket))
		var out map[string]any
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("%s: stdout is not a CNI error: %q", command, stdout)
		}
		if code == 0 || out["code"] != float64(codeTryAgainLater) || !strings.Contains(out["details"].(string), socket) {
			t.Errorf("%s without an agent: exit %d, %v; want code 11 naming the socket", command, code, out)
		}
	}
}

func TestCheckFailsWhenTheAgentDoesNotKnowThePod(t *testing.T) {
	socket, _ := fakeAgent(t, 409, `{"error":{"code":3,"msg":"pinpool has no addresses for pod default/nginx-1"}}`)
	code, out := runPlugin(t, podEnv("CHECK"), conf("1.1.0", socket))
	if code == 0 || out["code"] != float64(codeUnknownContainer) {
		t.Fatalf("CHECK answered with code 3: exit %d, %v", code, out)
	}
}

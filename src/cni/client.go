package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ipResult is one address as the agent returns it (CNI 1.x form).
type ipResult struct {
	Address string `json:"address"`
	Gateway string `json:"gateway,omitempty"`
}

type route struct {
	Dst string `json:"dst"`
	GW  string `json:"gw,omitempty"`
}

// agentResult is the IPAM result, version-neutral.
type agentResult struct {
	IPs    []ipResult `json:"ips"`
	Routes []route    `json:"routes,omitempty"`
}

type agentReply struct {
	Result *agentResult `json:"result,omitempty"`
	Error  *cniError    `json:"error,omitempty"`
}

type agentClient struct {
	socket  string
	timeout time.Duration
}

func newAgentClient(socket string, timeout time.Duration) *agentClient {
	return &agentClient{socket: socket, timeout: timeout}
}

// post sends one HTTP/1.1 request over the unix socket and returns the status and body.
// A hand-written request instead of net/http: the plugin runs once per sandbox, and
// net/http's init and its TLS/HTTP2 code (about 3 MiB of binary) were most of the
// plugin's start-up cost. The agent (fastify) answers with Content-Length or chunked.
func (c *agentClient) post(path string, body []byte) (int, []byte, error) {
	conn, err := net.DialTimeout("unix", c.socket, 2*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, nil, err
	}
	head := "POST " + path + " HTTP/1.1\r\nHost: pinpool-agent\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		return 0, nil, err
	}
	return readResponse(bufio.NewReader(io.LimitReader(conn, 2<<20)))
}

// readResponse parses an HTTP/1.1 response: status line, headers, then a body framed by
// Content-Length, chunked encoding, or the end of the connection.
func readResponse(r *bufio.Reader) (int, []byte, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, fmt.Errorf("reading the status line: %w", err)
	}
	parts := strings.SplitN(strings.TrimSpace(line), " ", 3)
	status, err := strconv.Atoi(partOr(parts, 1))
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "HTTP/1.") || err != nil {
		return 0, nil, fmt.Errorf("not an HTTP/1.x status line: %.100q", line)
	}
	length, chunked := -1, false
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return status, nil, fmt.Errorf("reading the headers: %w", err)
		}
		h = strings.TrimSpace(h)
		if h == "" {
			break
		}
		k, v, _ := strings.Cut(h, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length":
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || length < 0 {
				return status, nil, fmt.Errorf("bad Content-Length %q", v)
			}
		case "transfer-encoding":
			chunked = strings.Contains(strings.ToLower(v), "chunked")
		}
	}
	switch {
	case chunked:
		body, err := readChunked(r)
		return status, body, err
	case length >= 0:
		body := make([]byte, length)
		_, err := io.ReadFull(r, body)
		return status, body, err
	default:
		body, err := io.ReadAll(r)
		return status, body, err
	}
}

func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return body, err
		}
		sizeText, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(sizeText, 16, 32)
		if err != nil || size < 0 {
			return body, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			return body, nil // trailers, if any, are not needed
		}
		chunk := make([]byte, size+2) // the chunk and its CRLF
		if _, err := io.ReadFull(r, chunk); err != nil {
			return body, err
		}
		body = append(body, chunk[:size]...)
	}
}

func partOr(parts []string, i int) string {
	if i < len(parts) {
		return parts[i]
	}
	return ""
}

// call sends one request to the agent; transport failures become "try again later" (11),
// so the runtime retries instead of giving up on the pod, and are marked unreachable.
func (c *agentClient) call(req request) (agentReply, *cniError) {
	body, err := json.Marshal(req)
	if err != nil {
		return agentReply{}, &cniError{Code: codeIOFailure, Msg: "cannot encode the request", Details: err.Error()}
	}
	status, data, err := c.post("/v1/cni/"+strings.ToLower(req.Command), body)
	if err != nil && status == 0 {
		return agentReply{}, &cniError{Code: codeTryAgainLater, Msg: "the pinpool agent is unreachable", Details: fmt.Sprintf("%s: %v; is the pinpool-agent DaemonSet pod running on this node?", c.socket, err), unreachable: true}
	}
	if err != nil {
		return agentReply{}, &cniError{Code: codeTryAgainLater, Msg: "the pinpool agent's answer was cut off", Details: fmt.Sprintf("%s: %v", c.socket, err), unreachable: true}
	}
	if len(data) > 1<<20 {
		return agentReply{}, &cniError{Code: codeIOFailure, Msg: "the pinpool agent's answer is too large", Details: fmt.Sprintf("%d bytes; at most 1 MiB", len(data))}
	}
	var reply agentReply
	if err := json.Unmarshal(data, &reply); err != nil {
		return agentReply{}, &cniError{Code: codeIOFailure, Msg: "the pinpool agent answered something that is not JSON", Details: fmt.Sprintf("HTTP %d: %.200s", status, data)}
	}
	if reply.Error != nil {
		return reply, reply.Error
	}
	if status != 200 {
		return reply, &cniError{Code: codeIOFailure, Msg: "the pinpool agent failed", Details: fmt.Sprintf("HTTP %d: %.200s", status, data)}
	}
	if req.Command == "ADD" && reply.Result == nil {
		return reply, &cniError{Code: codeIOFailure, Msg: "the pinpool agent returned no result for ADD"}
	}
	return reply, nil
}

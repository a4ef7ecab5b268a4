package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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
	socket string
	http   *http.Client
}

func newAgentClient(socket string, timeout time.Duration) *agentClient {
	dialer := net.Dialer{Timeout: 2 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		},
	}
	return &agentClient{socket: socket, http: &http.Client{Transport: transport, Timeout: timeout}}
}

// call sends one request to the agent; transport failures become "try again later" (11),
// so the runtime retries instead of giving up on the pod, and are marked unreachable.
func (c *agentClient) call(req request) (agentReply, *cniError) {
	body, err := json.Marshal(req)
	if err != nil {
		return agentReply{}, &cniError{Code: codeIOFailure, Msg: "cannot encode the request", Details: err.Error()}
	}
	url := "http://pinpool-agent/v1/cni/" + strings.ToLower(req.Command)
	resp, err := c.http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return agentReply{}, &cniError{Code: codeTryAgainLater, Msg: "the pinpool agent is unreachable", Details: fmt.Sprintf("%s: %v; is the pinpool-agent DaemonSet pod running on this node?", c.socket, err), unreachable: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return agentReply{}, &cniError{Code: codeTryAgainLater, Msg: "the pinpool agent's answer was cut off", Details: fmt.Sprintf("%s: %v", c.socket, err), unreachable: true}
	}
	var reply agentReply
	if err := json.Unmarshal(data, &reply); err != nil {
		return agentReply{}, &cniError{Code: codeIOFailure, Msg: "the pinpool agent answered something that is not JSON", Details: fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, data)}
	}
	if reply.Error != nil {
		return reply, reply.Error
	}
	if resp.StatusCode != http.StatusOK {
		return reply, &cniError{Code: codeIOFailure, Msg: "the pinpool agent failed", Details: fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, data)}
	}
	if req.Command == "ADD" && reply.Result == nil {
		return reply, &cniError{Code: codeIOFailure, Msg: "the pinpool agent returned no result for ADD"}
	}
	return reply, nil
}

package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadResponseFramings(t *testing.T) {
	for name, raw := range map[string]string{
		"content-length": "HTTP/1.1 200 OK\r\nContent-Length: 11\r\ncontent-type: application/json\r\n\r\n{\"a\":\"xyz\"}",
		"chunked":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n7;ext=1\r\n:\"xyz\"}\r\n0\r\n\r\n",
		"until close":    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\":\"xyz\"}",
	} {
		status, body, err := readResponse(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || status != 200 || string(body) != `{"a":"xyz"}` {
			t.Errorf("%s: got %d %q %v", name, status, body, err)
		}
	}
}

func TestReadResponseRefusesCutOffAndForeignAnswers(t *testing.T) {
	for name, raw := range map[string]string{
		"body cut off":       "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"a\":1}",
		"headers cut off":    "HTTP/1.1 200 OK\r\nContent-Len",
		"not http":           "SSH-2.0-OpenSSH_9.2\r\n",
		"bad content-length": "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
		"bad chunk size":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		if _, _, err := readResponse(bufio.NewReader(strings.NewReader(raw))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

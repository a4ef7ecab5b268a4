//go:build linux && !amd64

package main

import "syscall"

// sysSetns is setns(2); only amd64's syscall table lacks it (see setns_amd64.go).
const sysSetns = syscall.SYS_SETNS

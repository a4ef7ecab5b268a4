//go:build linux

package main

// sysSetns is setns(2) on linux/amd64, where the syscall package's table predates it.
const sysSetns = 308

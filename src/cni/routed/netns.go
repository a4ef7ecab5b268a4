//go:build linux

package main

// Entering the pod's network namespace.

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// A namespace file is on nsfs (on proc before Linux 3.19).
const (
	nsfsMagic      = 0x6e736673
	procSuperMagic = 0x9fa0
)

// openNetns opens the pod's namespace, CNI_NETNS, checking that it is a namespace at all:
// setns would only say "invalid argument".
func openNetns(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &cniError{Code: codeInvalidEnvironment, Msg: "CNI_NETNS cannot be opened", Details: fmt.Sprintf("%v; expected the path of the pod's network namespace", err)}
	}
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil || (int64(st.Type) != nsfsMagic && int64(st.Type) != procSuperMagic) {
		f.Close()
		return nil, &cniError{Code: codeInvalidEnvironment, Msg: "CNI_NETNS is not a namespace",
			Details: fmt.Sprintf("%s; expected a network namespace such as /var/run/netns/NAME or /proc/PID/ns/net", path)}
	}
	return f, nil
}

// dialInNetns opens a netlink socket inside the network namespace ns. A socket keeps
// acting in the namespace it was created in, so the thread enters ns only long enough to
// create it: every operation after that is a message on the socket, and no Go code runs
// in the pod's namespace.
//
// It runs on a goroutine of its own: if the thread cannot return to the host's namespace,
// the goroutine ends with the thread still locked, and Go destroys the thread instead of
// running the rest of the plugin (or the IPAM plugin it forks) in the pod's namespace.
func dialInNetns(ns *os.File) (*nlConn, error) {
	type dialed struct {
		conn *nlConn
		err  error
	}
	done := make(chan dialed, 1)
	go func() {
		conn, err := dialOnThread(ns)
		done <- dialed{conn, err}
	}()
	d := <-done
	return d.conn, d.err
}

func dialOnThread(ns *os.File) (*nlConn, error) {
	// setns changes the calling thread only: the goroutine must stay on it.
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("opening this thread's network namespace: %w", err)
	}
	defer home.Close()
	// Both fds are taken before entering ns: Fd() switches a file to blocking mode, and
	// nothing but the socket call should run in the pod's namespace.
	homeFd, nsFd := home.Fd(), ns.Fd()
	if err := setns(nsFd); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering the network namespace %s: %w (is it a network namespace?)", ns.Name(), err)
	}
	conn, dialErr := dialNetlink()
	if err := setns(homeFd); err != nil {
		// The thread stays locked (see dialInNetns).
		if conn != nil {
			conn.close()
		}
		return nil, fmt.Errorf("returning to the host's network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

func setns(fd uintptr) error {
	if _, _, errno := syscall.RawSyscall(sysSetns, fd, syscall.CLONE_NEWNET, 0); errno != 0 {
		return errno
	}
	return nil
}

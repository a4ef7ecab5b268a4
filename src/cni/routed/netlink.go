//go:build linux

package main

// The rtnetlink transport, by hand: the standard library has the socket calls and most
// constants, but no message builder, and the plugin takes no dependency for ~150 lines.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Constants the syscall package lacks (linux/netlink.h).
const (
	solNetlink     = 270    // SOL_NETLINK
	netlinkExtAck  = 11     // NETLINK_EXT_ACK: the kernel explains a refusal in words
	nlmFCapped     = 0x100  // NLM_F_CAPPED: the ack quotes only the request's header
	nlmFAckTLVs    = 0x200  // NLM_F_ACK_TLVS: attributes follow the quoted request
	nlmsgerrMsg    = 1      // NLMSGERR_ATTR_MSG
	nlaTypeMask    = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	nlmsgHdrLen    = syscall.NLMSG_HDRLEN
	nlaHdrLen      = 4
	recvBufferSize = 1 << 16 // one datagram of a dump fits whatever the kernel's page size
)

var native = binary.NativeEndian

// netlinkTimeout bounds the wait for each of the kernel's answers: the kernel answers at
// once, so a reply that does not come was lost (a full socket buffer drops it), and a
// plugin blocked forever would hold up the pod's sandbox with no error to show for it.
// A variable so that a test can shorten it.
var netlinkTimeout = 10 * time.Second

func align4(n int) int { return (n + 3) &^ 3 }

// attr encodes one attribute: its length (header and data, without padding), its type, the
// data, then zeros up to a multiple of 4. A nested attribute is one whose data is other
// encoded attributes, so attr(IFLA_LINKINFO, attr(...), attr(...)) nests.
func attr(typ uint16, data ...[]byte) []byte {
	payload := bytes.Join(data, nil)
	b := make([]byte, align4(nlaHdrLen+len(payload)))
	native.PutUint16(b[0:2], uint16(nlaHdrLen+len(payload)))
	native.PutUint16(b[2:4], typ)
	copy(b[nlaHdrLen:], payload)
	return b
}

func u32(v uint32) []byte { return native.AppendUint32(nil, v) }

// cstring is how iproute2 sends names: NUL-terminated.
func cstring(s string) []byte { return append([]byte(s), 0) }

// message encodes a netlink message: the 16-byte header, then the body.
func message(typ, flags uint16, seq uint32, body ...[]byte) []byte {
	payload := bytes.Join(body, nil)
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(payload))
	native.PutUint32(b[0:4], uint32(nlmsgHdrLen+len(payload)))
	native.PutUint16(b[4:6], typ)
	native.PutUint16(b[6:8], flags)
	native.PutUint32(b[8:12], seq)
	// b[12:16], the port id, stays 0: the kernel fills in the sender's.
	return append(b, payload...)
}

// nlMessage is one received message: its header fields and its payload.
type nlMessage struct {
	typ, flags uint16
	seq        uint32
	data       []byte
}

// splitMessages cuts a datagram into its messages.
func splitMessages(b []byte) ([]nlMessage, error) {
	var msgs []nlMessage
	for len(b) >= nlmsgHdrLen {
		n := int(native.Uint32(b[0:4]))
		if n < nlmsgHdrLen || n > len(b) {
			return nil, fmt.Errorf("malformed netlink message: length %d in a %d-byte datagram; expected %d to %d", n, len(b), nlmsgHdrLen, len(b))
		}
		msgs = append(msgs, nlMessage{typ: native.Uint16(b[4:6]), flags: native.Uint16(b[6:8]), seq: native.Uint32(b[8:12]), data: b[nlmsgHdrLen:n]})
		b = b[min(align4(n), len(b)):]
	}
	return msgs, nil
}

// parseAttrs indexes a run of attributes by type. A truncated tail is ignored: the kernel
// never sends one, and what came before it is still usable.
func parseAttrs(b []byte) map[uint16][]byte {
	attrs := map[uint16][]byte{}
	for len(b) >= nlaHdrLen {
		n := int(native.Uint16(b[0:2]))
		if n < nlaHdrLen || n > len(b) {
			break
		}
		attrs[native.Uint16(b[2:4])&nlaTypeMask] = b[nlaHdrLen:n]
		b = b[min(align4(n), len(b)):]
	}
	return attrs
}

// nlError is a refusal from the kernel: the errno, and its explanation when it gave one.
type nlError struct {
	errno  syscall.Errno
	detail string
}

func (e *nlError) Error() string {
	if e.detail == "" {
		return e.errno.Error()
	}
	return e.errno.Error() + " (" + e.detail + ")"
}

// Unwrap lets callers test errors.Is(err, syscall.ENODEV).
func (e *nlError) Unwrap() error { return e.errno }

// ackError reads an NLMSG_ERROR payload: a negative errno (0 is a plain ack), the request's
// header quoted back (and its body unless capped), then the extended-ack attributes.
func ackError(m nlMessage) error {
	if len(m.data) < 4 {
		return fmt.Errorf("malformed netlink ack: %d bytes; expected at least 4", len(m.data))
	}
	errno := -int32(native.Uint32(m.data[0:4]))
	if errno == 0 {
		return nil
	}
	e := &nlError{errno: syscall.Errno(errno)}
	if m.flags&nlmFAckTLVs != 0 && len(m.data) >= 4+nlmsgHdrLen {
		quoted := nlmsgHdrLen
		if m.flags&nlmFCapped == 0 {
			quoted = int(native.Uint32(m.data[4:8]))
		}
		if 4+quoted <= len(m.data) {
			e.detail = string(bytes.TrimRight(parseAttrs(m.data[4+quoted:])[nlmsgerrMsg], "\x00"))
		}
	}
	return e
}

// doneError reads the end of a dump: an int that is negative when the dump broke off.
func doneError(m nlMessage) error {
	if len(m.data) >= 4 && int32(native.Uint32(m.data[0:4])) < 0 {
		return &nlError{errno: syscall.Errno(-int32(native.Uint32(m.data[0:4])))}
	}
	return nil
}

// nlConn is a NETLINK_ROUTE socket. It acts in the network namespace it was created in.
type nlConn struct {
	fd  int
	seq uint32
}

func dialNetlink() (*nlConn, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a NETLINK_ROUTE socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("binding a NETLINK_ROUTE socket: %w", err)
	}
	tv := syscall.NsecToTimeval(netlinkTimeout.Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("setting a receive timeout on a NETLINK_ROUTE socket: %w", err)
	}
	// Best effort: kernels before 4.12 lack extended acks and still answer with an errno.
	syscall.SetsockoptInt(fd, solNetlink, netlinkExtAck, 1)
	return &nlConn{fd: fd}, nil
}

func (c *nlConn) close() { syscall.Close(c.fd) }

// exec sends one request and returns the payloads of the kernel's answers. A request
// that is not a dump asks for an ack, so the kernel always answers and the last answer
// says whether it succeeded; a dump ends with NLMSG_DONE.
func (c *nlConn) exec(typ, flags uint16, body ...[]byte) ([][]byte, error) {
	c.seq++
	flags |= syscall.NLM_F_REQUEST
	if flags&syscall.NLM_F_DUMP != syscall.NLM_F_DUMP {
		flags |= syscall.NLM_F_ACK
	}
	if err := syscall.Sendto(c.fd, message(typ, flags, c.seq, body...), 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sending a netlink request: %w", err)
	}
	return c.receive(c.seq)
}

// receive collects the answers to request seq until its ack, error or end of dump.
func (c *nlConn) receive(seq uint32) ([][]byte, error) {
	var replies [][]byte
	buf := make([]byte, recvBufferSize)
	for {
		n, from, err := syscall.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) { // SO_RCVTIMEO ran out
			return nil, fmt.Errorf("the kernel did not answer a netlink request within %v: %w; expected an answer at once (was it lost?)", netlinkTimeout, err)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the kernel's netlink answer: %w", err)
		}
		if sa, ok := from.(*syscall.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel (port 0) answers requests
		}
		// Copied: the payloads outlive buf's next use.
		msgs, err := splitMessages(bytes.Clone(buf[:n]))
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch {
			case m.seq != seq:
				continue // a late answer to an earlier request
			case m.typ == syscall.NLMSG_ERROR:
				return replies, ackError(m)
			case m.typ == syscall.NLMSG_DONE:
				return replies, doneError(m)
			default:
				replies = append(replies, m.data)
			}
		}
	}
}

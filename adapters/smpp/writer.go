package smpp

import (
	"bufio"
	"errors"
	"net"
)

var errClosedAfterWrite = errors.New("smpp: connection closed after its last PDU")

// connWriter owns the writing side of a connection: callers hand it encoded
// PDUs and go on; one goroutine writes whatever has queued up and flushes
// once, so PDUs sent close together share a syscall.
type connWriter struct {
	ch   chan []byte
	done <-chan struct{}
}

func newConnWriter(conn net.Conn, done <-chan struct{}, fail func(error)) *connWriter {
	w := &connWriter{ch: make(chan []byte, 1024), done: done}
	go func() {
		bw := bufio.NewWriterSize(conn, 32*1024)
		for {
			var b []byte
			select {
			case b = <-w.ch:
			case <-done:
				return
			}
			for {
				if b == nil { // closeAfter: flush what came before, then close
					bw.Flush()
					fail(errClosedAfterWrite)
					return
				}
				if _, err := bw.Write(b); err != nil {
					fail(err)
					return
				}
				if bw.Buffered() > 28*1024 {
					break
				}
				select {
				case b = <-w.ch:
					continue
				default:
				}
				break
			}
			if err := bw.Flush(); err != nil {
				fail(err)
				return
			}
		}
	}()
	return w
}

// send queues an encoded PDU; false if the connection has closed.
func (w *connWriter) send(b []byte) bool {
	select {
	case <-w.done:
		return false
	default:
	}
	select {
	case w.ch <- b:
		return true
	case <-w.done:
		return false
	}
}

// closeAfter queues b and then closes the connection once b is written.
func (w *connWriter) closeAfter(b []byte) {
	if w.send(b) {
		w.send(nil)
	}
}

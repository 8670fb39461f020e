package device

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// BatchConn is the net.Conn under a login's TLS client. While it holds
// (the state NewBatchConn returns), Write only queues the bytes, and they
// leave in one write when the connection next reads, on Flush, or on Close
// after CloseFlushing. A TLS client never waits for an answer without
// reading, so nothing queued is ever stuck, and what the client sends
// between two reads travels in one write call and one TCP segment:
//
//   - TLS 1.3: the client's last flight (Certificate, CertificateVerify,
//     Finished) and the first application message (CONNECT, or the
//     baseline's echo byte): one write instead of two;
//   - a churned login's DISCONNECT and TLS close_notify: one write
//     instead of two (CloseFlushing).
//
// Each write saved is a system call and, over loopback, the receiving side's
// TCP processing, which the kernel runs on the sender's CPU
// (docs/performance.md). The server sees the same records in the same order.
//
// Release ends the holding: later writes go straight through (after
// whatever is still queued, in the same write). A BatchConn is safe for
// one reader and one writer at a time, as crypto/tls uses it.
type BatchConn struct {
	net.Conn

	mu      sync.Mutex
	pb      *[]byte // pooled backing array of buf
	buf     []byte  // queued bytes
	hold    bool
	closeDL time.Time // write deadline of the last write (CloseFlushing)

	flushClose atomic.Bool // Close writes the queue first
	received   bool        // Read has returned data (set and read by the reader)
}

// batchBufs recycles the queues: a login's queue is ~1-2 KiB (ClientHello,
// the client's flight with its certificate, CONNECT).
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledBatch is the largest queue returned to the pool.
const maxPooledBatch = 16 << 10

// NewBatchConn wraps c, holding writes until the next read.
func NewBatchConn(c net.Conn) *BatchConn { return &BatchConn{Conn: c, hold: true} }

// Write queues p while the connection holds; otherwise it writes whatever
// is queued and p in one write.
func (c *BatchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.hold && len(c.buf) == 0 {
		c.mu.Unlock() // a released connection writes without the lock
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	c.queue(p)
	if c.hold {
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *BatchConn) queue(p []byte) {
	if c.pb == nil {
		c.pb = batchBufs.Get().(*[]byte)
		c.buf = (*c.pb)[:0]
	}
	c.buf = append(c.buf, p...)
}

// Read writes whatever is queued, then reads.
func (c *BatchConn) Read(p []byte) (int, error) {
	if err := c.Flush(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.received = true
	}
	return n, err
}

// Received reports whether the peer has sent any byte yet. Call it from the
// goroutine that reads.
func (c *BatchConn) Received() bool { return c.received }

// Flush writes whatever is queued, under the connection's write deadline.
func (c *BatchConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *BatchConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.recycle()
	return err
}

// recycle hands the queue back to the pool. A failed write drops the
// queue too: the stream is unusable after a partial TLS record.
func (c *BatchConn) recycle() {
	if c.pb != nil && cap(c.buf) <= maxPooledBatch {
		*c.pb = c.buf[:0]
		batchBufs.Put(c.pb)
	}
	c.pb, c.buf = nil, nil
}

// Release stops holding writes: from now on each Write goes out at once
// (with whatever was still queued).
func (c *BatchConn) Release() {
	c.mu.Lock()
	c.hold = false
	c.mu.Unlock()
}

// CloseFlushing makes Close write the queue before it closes the socket,
// under write deadline dl (crypto/tls's Close sets a past write deadline
// after queueing close_notify, so the one in force then cannot be used).
// Without it Close drops the queue at once: a Close that interrupts a login
// must not wait on a write.
func (c *BatchConn) CloseFlushing(dl time.Time) {
	c.mu.Lock()
	c.closeDL = dl
	c.mu.Unlock()
	c.flushClose.Store(true)
}

// Close closes the connection, first writing the queue after CloseFlushing.
// The write's error, if any, is returned when the close itself succeeds.
func (c *BatchConn) Close() error {
	if !c.flushClose.Load() {
		err := c.Conn.Close() // first: it unblocks a write in progress
		c.mu.Lock()
		c.recycle()
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	var werr error
	if len(c.buf) > 0 {
		_ = c.Conn.SetWriteDeadline(c.closeDL)
		_, werr = c.Conn.Write(c.buf)
	}
	c.recycle()
	c.mu.Unlock()
	if err := c.Conn.Close(); err != nil {
		return err
	}
	return werr
}

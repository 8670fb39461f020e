package registry

// ids.go: identifiers and credentials. Everything random comes from
// crypto/rand (which never fails since Go 1.24: it crashes the program
// rather than return weak bytes).

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randHex returns n random lowercase hex digits (n even).
func randHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randString returns n characters drawn uniformly from alphabet (rejection
// sampling, no modulo bias).
func randString(alphabet string, n int) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// newUUID returns a random (version 4) UUID, lowercase. Used as verify_code. [CA-VERIFY]
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// allocID formats an allocated CA or product ID: 8 hex digits of the
// database's creation time followed by 16 hex digits of a counter that only
// grows, so IDs sort in creation order (paging in descending ID order). [CA-LIST]
func (r *Registry) allocID(seq int64) string {
	return r.idPrefix + fmt.Sprintf("%016x", uint64(seq))
}

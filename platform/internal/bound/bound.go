// Package bound cuts peer-controlled text to a stated size before the
// platform stores, logs or serves it. A device (or anything that completes a
// TCP handshake) chooses its ClientId, username, SNI, certificate names and
// topics; each may be 64 KiB or more and full of control bytes. What one peer
// sends must cost bounded memory and log, so every such value passes through
// String on its way into a record or a log line.
//
// String escapes what a terminal or a log reader would misread (control
// bytes, invalid UTF-8, non-printing runes such as bidi overrides, and the
// backslash that starts an escape) as \xNN, and counts the escaped form
// against the bound: escaping never makes the result longer than the bound
// (unlike %q, which quadruples a control byte). When it cuts, it says how
// much it left out: "…[+N bytes]".
package bound

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The bounds the platform uses, in bytes of output before the marker.
const (
	// Field bounds one peer-supplied value: a ClientId, a username, an SNI,
	// a certificate subject or issuer, a topic, an error text.
	Field = 256
	// Detail bounds a composed explanation (a refusal's detail), which
	// quotes at most a few Fields.
	Detail = 1024
	// MarkerMax is the longest marker String appends: "…[+N bytes]" with N
	// up to 20 digits.
	MarkerMax = len("…[+") + 20 + len(" bytes]")
)

// String returns s with control bytes, invalid UTF-8, non-printing runes
// and backslashes escaped (\xNN per byte, \\), cut to at most max bytes; when
// it cuts, it appends "…[+N bytes]", N being the bytes of s not shown. A
// short printable s is returned as is, without allocating. The result never
// shares memory with a cut s, so a long s can be freed.
func String(s string, max int) string {
	if len(s) <= max && plain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), max) + MarkerMax)
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc bool
		switch {
		case r == utf8.RuneError && size <= 1:
			esc = true
		case r == '\\':
			esc = true
		case r < utf8.RuneSelf:
			esc = r < 0x20 || r == 0x7f
		default:
			esc = !unicode.IsPrint(r)
		}
		n := size
		if esc {
			n = 4 * size // \xNN per byte
			if r == '\\' {
				n = 2
			}
		}
		if b.Len()+n > max {
			break
		}
		switch {
		case !esc:
			b.WriteString(s[i : i+size])
		case r == '\\':
			b.WriteString(`\\`)
		default:
			for j := i; j < i+size; j++ {
				b.WriteString(`\x`)
				b.WriteByte(hex[s[j]>>4])
				b.WriteByte(hex[s[j]&0xf])
			}
		}
		i += size
	}
	if i < len(s) {
		b.WriteString("…[+")
		b.WriteString(strconv.Itoa(len(s) - i))
		b.WriteString(" bytes]")
	}
	return b.String()
}

const hex = "0123456789abcdef"

// plain reports whether s is printable ASCII without backslashes: nothing
// to escape.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

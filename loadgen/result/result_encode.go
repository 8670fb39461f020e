package result

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// This file is a hand-written encoder for attempt lines. encoding/json costs
// ≈2.5 µs of generator CPU per login (reflection, allocations), a noticeable
// share of a ≈230 µs per-login budget, so Writer.Record appends the line
// itself. The bytes must stay exactly those encoding/json writes for
// line{Result: r} with SetEscapeHTML(false): readers (Reader, reports/, other
// shards) decode them with encoding/json. result_encode_test.go checks the
// equality on a table of cases and by fuzzing.

// appendResultLine appends the attempt line for r, with its trailing newline,
// to dst: exactly what a json.Encoder with SetEscapeHTML(false) writes for
// line{Result: r}. r must be non-nil. If a time of r cannot be written as
// RFC 3339 (see resultTimesEncodable), encoding/json fails instead; callers
// check that first.
//
// Keep the field order, names and omitempty flags in step with the tags of
// Result.
func appendResultLine(dst []byte, r *Result) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"server":`...)
	dst = appendJSONString(dst, r.Server)
	dst = append(dst, `,"device":`...)
	dst = strconv.AppendInt(dst, int64(r.Device), 10)
	dst = append(dst, `,"identity":`...)
	dst = appendJSONString(dst, string(r.Identity))
	dst = append(dst, `,"scheduled":`...)
	dst = appendJSONTime(dst, r.Scheduled)
	dst = append(dst, `,"start":`...)
	dst = appendJSONTime(dst, r.Start)
	dst = append(dst, `,"tcp_us":`...)
	dst = strconv.AppendInt(dst, r.TCPUs, 10)
	dst = append(dst, `,"tls_us":`...)
	dst = strconv.AppendInt(dst, r.TLSUs, 10)
	dst = append(dst, `,"connack_us":`...)
	dst = strconv.AppendInt(dst, r.ConnackUs, 10)
	dst = append(dst, `,"total_us":`...)
	dst = strconv.AppendInt(dst, r.TotalUs, 10)
	dst = append(dst, `,"outcome":`...)
	dst = appendJSONString(dst, string(r.Outcome))
	if r.Phase != "" {
		dst = append(dst, `,"phase":`...)
		dst = appendJSONString(dst, r.Phase)
	}
	if r.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, r.Reason)
	}
	dst = append(dst, `,"connack_code":`...)
	dst = strconv.AppendInt(dst, int64(r.ConnackCode), 10)
	if r.TLSVersion != "" {
		dst = append(dst, `,"tls_version":`...)
		dst = appendJSONString(dst, r.TLSVersion)
	}
	dst = append(dst, `,"resumed":`...)
	dst = strconv.AppendBool(dst, r.Resumed)
	dst = append(dst, `,"expected":`...)
	dst = appendJSONString(dst, string(r.Expected))
	if r.ExpectedReason != "" {
		dst = append(dst, `,"expected_reason":`...)
		dst = appendJSONString(dst, r.ExpectedReason)
	}
	if r.Unexpected {
		dst = append(dst, `,"unexpected":true`...)
	}
	if r.Warmup {
		dst = append(dst, `,"warmup":true`...)
	}
	if r.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendJSONString(dst, r.Error)
	}
	if r.Population != "" {
		dst = append(dst, `,"population":`...)
		dst = appendJSONString(dst, r.Population)
	}
	return append(dst, "}\n"...)
}

// resultTimesEncodable reports whether encoding/json can write the times of
// r: time.Time.MarshalJSON refuses a year outside [0,9999] and a zone offset
// of 24 hours or more, and the whole line then fails to encode.
func resultTimesEncodable(r *Result) bool {
	return timeEncodable(r.Scheduled) && timeEncodable(r.Start)
}

// timeEncodable mirrors the checks of time.Time.appendStrictRFC3339.
func timeEncodable(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	if off < 0 {
		off = -off
	}
	// The offset is written as ±hh:mm with the seconds truncated.
	return off/60 < 24*60
}

// appendJSONTime appends t as time.Time.MarshalJSON writes it (quoted
// RFC 3339 with nanoseconds, trailing zeros dropped). time formats
// RFC3339Nano on a fast path that does not allocate.
func appendJSONTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json's
// appendString does with HTML escaping off: '"' and '\\' backslash-escaped,
// control bytes as \b \f \n \r \t or \u00XX, each byte of invalid UTF-8 as
// \ufffd, U+2028 and U+2029 as \u2028 and \u2029; everything else (including
// DEL and valid non-ASCII) as is.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

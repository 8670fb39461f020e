package registry

// validate.go: field rules shared by products and devices. Each failure
// wraps ErrInvalidInput and names the field and the rule.

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// invalidf wraps ErrInvalidInput with a specific message.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// isIDChars reports whether s is made only of [A-Za-z0-9_-].
func isIDChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// checkID checks an identifier field: 1..maxLen characters of [A-Za-z0-9_-].
func checkID(field, v string, maxLen int) error {
	if v == "" || len(v) > maxLen || !isIDChars(v) {
		return invalidf("%s must be 1-%d characters of [A-Za-z0-9_-], got %q", field, maxLen, v)
	}
	return nil
}

// checkLen checks a free-text field's length in characters.
func checkLen(field, v string, minLen, maxLen int) error {
	n := utf8.RuneCountInString(v)
	if n < minLen || n > maxLen {
		if minLen > 0 {
			return invalidf("%s must be %d-%d characters, got %d", field, minLen, maxLen, n)
		}
		return invalidf("%s must be at most %d characters, got %d", field, maxLen, n)
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// normFingerprint validates a certificate fingerprint and returns it in
// lowercase; "" stays "". [DEV-FINGERPRINT]
func normFingerprint(field, fp string) (string, error) {
	if fp == "" {
		return "", nil
	}
	if (len(fp) != 40 && len(fp) != 64) || !isHex(fp) {
		if bare := strings.ReplaceAll(fp, ":", ""); bare != fp && (len(bare) == 40 || len(bare) == 64) && isHex(bare) {
			// openssl x509 -fingerprint prints "SHA256 Fingerprint=AB:CD:...". [DEV-FINGERPRINT]
			return "", invalidf("%s must be 40 (SHA-1) or 64 (SHA-256) hex digits without separators, got %q: remove the colons (%s), e.g. openssl x509 -in device.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :",
				field, truncateForError(fp), strings.ToLower(bare))
		}
		return "", invalidf("%s must be 40 (SHA-1) or 64 (SHA-256) hex digits, got %q", field, truncateForError(fp))
	}
	return strings.ToLower(fp), nil
}

// truncateForError bounds a caller's value quoted in an error message.
func truncateForError(s string) string {
	const maxQuoted = 100
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "…"
}

// checkJSON checks an optional JSON document's size and syntax.
func checkJSON(field string, v []byte, maxBytes int) error {
	if len(v) > maxBytes {
		return invalidf("%s must be at most %d bytes of JSON, got %d", field, maxBytes, len(v))
	}
	if !json.Valid(v) {
		return invalidf("%s is not valid JSON", field)
	}
	return nil
}

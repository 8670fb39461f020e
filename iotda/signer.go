package iotda

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// This file is the client half of IoTDA request authentication: the
// SDK-HMAC-SHA256 signer and the V11-HMAC-SHA256 derived signer, byte for
// byte as huaweicloud-sdk-go-v3 core/auth/signer does it (docs/iotda.md
// §2.2, §2.3). verify.go is the server half; both share the canonical form below.

// derivedDateLayout is the date part of the V11 credential scope.
const derivedDateLayout = "20060102"

// SignRequest authenticates r in place for c at time now. With an access key
// it sets X-Project-Id (when c.ProjectID is set), X-Sdk-Date and an
// Authorization header of scheme SDK-HMAC-SHA256, or V11-HMAC-SHA256 when
// c.Derived; body must be exactly the bytes r will send. Without an access key
// it sets X-Auth-Token (and X-Project-Id) instead. The signed headers are the
// headers present in r.Header at this moment, so set every header first.
func SignRequest(r *http.Request, body []byte, c Credentials, now time.Time) error {
	if r == nil || r.URL == nil {
		return errors.New("sign request: nil request or URL")
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Del(HeaderAuthorization)
	if c.ProjectID != "" {
		r.Header.Set(HeaderProjectID, c.ProjectID)
	}
	if c.AccessKey == "" {
		if c.Token == "" {
			return fmt.Errorf("sign request: %w", ErrNoCredentials)
		}
		r.Header.Set(HeaderAuthToken, c.Token)
		return nil
	}
	if c.SecretKey == "" {
		return fmt.Errorf("sign request: access key %q has no secret key: %w", c.AccessKey, ErrNoCredentials)
	}
	now = now.UTC()
	date := now.Format(CompactTime)
	r.Header.Set(HeaderSdkDate, date)
	// The SDK signs a literal instead of the body when it is neither JSON nor BSON (§2.2 step 1).
	if ct := r.Header.Get("Content-Type"); ct != "" && !hashesBody(ct) {
		r.Header.Set(HeaderContentSHA256, UnsignedPayload)
	}
	signed := signedHeaderNames(r.Header)
	cr := canonicalRequest(r, signed, payloadHash(r.Header, body))
	if c.Derived {
		info := derivedInfo(now, c.Region)
		sig, err := signV11(c.AccessKey, c.SecretKey, info, stringToSignV11(date, info, cr))
		if err != nil {
			return fmt.Errorf("sign request: %w", err)
		}
		r.Header.Set(HeaderAuthorization, fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
			AlgorithmV11, c.AccessKey, info, strings.Join(signed, ";"), sig))
		return nil
	}
	sig := hmacHex([]byte(c.SecretKey), stringToSignSDK(date, cr))
	r.Header.Set(HeaderAuthorization, fmt.Sprintf("%s Access=%s, SignedHeaders=%s, Signature=%s",
		AlgorithmSDK, c.AccessKey, strings.Join(signed, ";"), sig))
	return nil
}

// hashesBody reports whether the SDK signs the body hash for this content type.
func hashesBody(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.Contains(ct, "application/json") || strings.Contains(ct, "application/bson")
}

// derivedInfo is the V11 credential scope {YYYYMMDD}/{region}/iotdm.
func derivedInfo(t time.Time, region string) string {
	if region == "" {
		region = DefaultRegion
	}
	return t.UTC().Format(derivedDateLayout) + "/" + region + "/" + DerivedService
}

// signedHeaderNames lists the header names the SDK signs: every name
// lower-cased, except content-type* and names containing "_", sorted.
func signedHeaderNames(h http.Header) []string {
	seen := make(map[string]bool, len(h))
	names := make([]string, 0, len(h))
	for k := range h {
		n := strings.ToLower(k)
		if strings.HasPrefix(n, "content-type") || strings.Contains(n, "_") || seen[n] {
			continue
		}
		seen[n] = true
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// payloadHash is the last line of the canonical request: the value of
// X-Sdk-Content-Sha256 when present, else hex(sha256(body)).
func payloadHash(h http.Header, body []byte) string {
	if v := h.Values(HeaderContentSHA256); len(v) > 0 {
		return v[0]
	}
	return sha256Hex(body)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// canonicalRequest is METHOD\nURI\nQUERY\nHEADERS\nSIGNED\nHASH (§2.2 step 4).
func canonicalRequest(r *http.Request, signed []string, hash string) string {
	return r.Method + "\n" +
		canonicalURI(r.URL) + "\n" +
		canonicalQuery(r.URL.RawQuery) + "\n" +
		canonicalHeaders(r, signed) + "\n" +
		strings.Join(signed, ";") + "\n" +
		hash
}

// canonicalURI escapes each path segment and always ends with "/".
func canonicalURI(u *url.URL) string {
	segs := strings.Split(u.EscapedPath(), "/")
	for i, s := range segs {
		if raw, err := url.PathUnescape(s); err == nil {
			s = raw
		}
		segs[i] = escape(s)
	}
	p := strings.Join(segs, "/")
	if p == "" || p[len(p)-1] != '/' {
		p += "/"
	}
	return p
}

// canonicalQuery sorts keys and each key's values, escaping both.
func canonicalQuery(rawQuery string) string {
	q, _ := url.ParseQuery(rawQuery) // keeps every well-formed pair; the signature covers the rest
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// canonicalHeaders renders "name:value" lines for the signed headers plus a
// trailing newline. host is taken from the request's Host.
func canonicalHeaders(r *http.Request, signed []string) string {
	byName := make(map[string][]string, len(r.Header))
	for k, vs := range r.Header {
		n := strings.ToLower(k)
		byName[n] = append(byName[n], vs...)
	}
	var lines []string
	for _, name := range signed {
		values := byName[name]
		if name == "host" {
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			values = []string{host}
		}
		trimmed := make([]string, len(values))
		for i, v := range values {
			trimmed[i] = strings.TrimSpace(v)
		}
		sort.Strings(trimmed)
		for _, v := range trimmed {
			lines = append(lines, name+":"+v)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func stringToSignSDK(date, canonicalRequest string) string {
	return AlgorithmSDK + "\n" + date + "\n" + sha256Hex([]byte(canonicalRequest))
}

func stringToSignV11(date, info, canonicalRequest string) string {
	return AlgorithmV11 + "\n" + date + "\n" + info + "\n" + sha256Hex([]byte(canonicalRequest))
}

// signV11 signs with the ASCII hex of HKDF-SHA256(ikm=SK, salt=AK, info, 32).
func signV11(accessKey, secretKey, info, stringToSign string) (string, error) {
	key, err := hkdf.Key(sha256.New, []byte(secretKey), []byte(accessKey), info, 32)
	if err != nil {
		return "", fmt.Errorf("derive V11 key: %w", err)
	}
	return hmacHex([]byte(hex.EncodeToString(key)), stringToSign), nil
}

func hmacHex(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// escape percent-encodes every byte except A-Z a-z 0-9 _ - ~ . (uppercase hex).
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

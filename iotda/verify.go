package iotda

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DefaultSkew is the clock skew VerifyRequest allows when given skew ≤ 0
// (APIG's usual ±15 minutes; docs/iotda.md §2.3).
const DefaultSkew = 15 * time.Minute

// authorization is a parsed Authorization header of either scheme.
type authorization struct {
	algorithm string   // AlgorithmSDK or AlgorithmV11
	accessKey string   // Access= (SDK) or the first part of Credential= (V11)
	info      string   // V11 credential scope {YYYYMMDD}/{region}/{service}
	signed    []string // SignedHeaders, as listed
	signature string   // lower-case hex
}

// VerifyRequest checks the Authorization header of a signed request (either
// scheme) against body, within ±skew of now (DefaultSkew when skew ≤ 0), and
// returns the access key that signed it. It recomputes the canonical request
// over exactly the headers SignedHeaders lists (host is r.Host), so it accepts
// the Go SDK (which signs no host) and APIG-style clients (which sign
// content-type;host;x-sdk-date) alike. Errors wrap ErrMissingAuthorization,
// ErrMalformedAuthorization, ErrBadDate, ErrStaleDate, ErrUnknownAccessKey or
// ErrSignatureMismatch with a sentence saying what was wrong; the access key is
// returned with them whenever the header could be parsed.
func VerifyRequest(r *http.Request, body []byte, lookup SecretLookup, now time.Time, skew time.Duration) (accessKey string, err error) {
	const op = "verify request"
	v := r.Header.Get(HeaderAuthorization)
	if v == "" {
		return "", fmt.Errorf("%s: %w", op, ErrMissingAuthorization)
	}
	a, err := parseAuthorization(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if !slices.Contains(a.signed, "x-sdk-date") {
		return a.accessKey, fmt.Errorf("%s: %w: SignedHeaders %q must include x-sdk-date", op, ErrMalformedAuthorization, strings.Join(a.signed, ";"))
	}
	dateStr := r.Header.Get(HeaderSdkDate)
	date, err := time.Parse(CompactTime, dateStr)
	if err != nil {
		return a.accessKey, fmt.Errorf("%s: %w: %q is not in the form 20060102T150405Z (UTC)", op, ErrBadDate, dateStr)
	}
	if skew <= 0 {
		skew = DefaultSkew
	}
	if d := now.Sub(date); d > skew || d < -skew {
		return a.accessKey, fmt.Errorf("%s: %w: X-Sdk-Date %s is %s away from server time %s (allowed ±%s)",
			op, ErrStaleDate, dateStr, d.Abs().Round(time.Second), now.UTC().Format(CompactTime), skew)
	}
	if a.algorithm == AlgorithmV11 {
		parts := strings.Split(a.info, "/")
		if parts[0] != date.Format(derivedDateLayout) {
			return a.accessKey, fmt.Errorf("%s: %w: credential date %s does not match X-Sdk-Date %s", op, ErrMalformedAuthorization, parts[0], dateStr)
		}
		if parts[2] != DerivedService {
			return a.accessKey, fmt.Errorf("%s: %w: credential service %q, want %q", op, ErrMalformedAuthorization, parts[2], DerivedService)
		}
	}
	secret, ok := lookup(a.accessKey)
	if !ok {
		return a.accessKey, fmt.Errorf("%s: %w %q", op, ErrUnknownAccessKey, a.accessKey)
	}
	hash := sha256Hex(body)
	if vs := r.Header.Values(HeaderContentSHA256); len(vs) > 0 {
		switch {
		case vs[0] == UnsignedPayload && hashesBody(r.Header.Get("Content-Type")):
			return a.accessKey, fmt.Errorf("%s: %w: %s: %s is only allowed for bodies that are not JSON", op, ErrSignatureMismatch, HeaderContentSHA256, UnsignedPayload)
		case vs[0] != UnsignedPayload && !strings.EqualFold(vs[0], hash):
			return a.accessKey, fmt.Errorf("%s: %w: the body does not match %s", op, ErrSignatureMismatch, HeaderContentSHA256)
		}
		hash = vs[0]
	}
	cr := canonicalRequest(r, a.signed, hash)
	var want string
	if a.algorithm == AlgorithmV11 {
		if want, err = signV11(a.accessKey, secret, a.info, stringToSignV11(dateStr, a.info, cr)); err != nil {
			return a.accessKey, fmt.Errorf("%s: %w", op, err)
		}
	} else {
		want = hmacHex([]byte(secret), stringToSignSDK(dateStr, cr))
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		// Say what to fix first; the canonical request is for the rare case
		// of a proxy or client that changes what it signed.
		return a.accessKey, fmt.Errorf("%s: %w: access key %q is known but the signature does not match: check the secret key (secret_key in the target file); if it is right, something between client and server changed the request (the server's canonical request was %q)",
			op, ErrSignatureMismatch, a.accessKey, cr)
	}
	return a.accessKey, nil
}

// parseAuthorization parses
//
//	SDK-HMAC-SHA256 Access={AK}, SignedHeaders={h1;h2}, Signature={hex}
//	V11-HMAC-SHA256 Credential={AK}/{YYYYMMDD}/{region}/{service}, SignedHeaders=…, Signature=…
func parseAuthorization(v string) (authorization, error) {
	var a authorization
	alg, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return a, fmt.Errorf("%w: want \"<algorithm> k=v, k=v, ...\"", ErrMalformedAuthorization)
	}
	if alg != AlgorithmSDK && alg != AlgorithmV11 {
		return a, fmt.Errorf("%w: unknown algorithm %q (want %s or %s)", ErrMalformedAuthorization, alg, AlgorithmSDK, AlgorithmV11)
	}
	a.algorithm = alg
	params := make(map[string]string, 3)
	for _, p := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || k == "" {
			return a, fmt.Errorf("%w: parameter %q is not k=v", ErrMalformedAuthorization, strings.TrimSpace(p))
		}
		if _, dup := params[k]; dup {
			return a, fmt.Errorf("%w: parameter %s repeated", ErrMalformedAuthorization, k)
		}
		params[k] = val
	}
	if alg == AlgorithmSDK {
		a.accessKey = params["Access"]
		if a.accessKey == "" {
			return a, fmt.Errorf("%w: Access is missing", ErrMalformedAuthorization)
		}
	} else {
		cred := strings.Split(params["Credential"], "/")
		if len(cred) != 4 || slices.Contains(cred, "") {
			return a, fmt.Errorf("%w: Credential %q is not {AK}/{YYYYMMDD}/{region}/{service}", ErrMalformedAuthorization, params["Credential"])
		}
		a.accessKey, a.info = cred[0], strings.Join(cred[1:], "/")
	}
	sh := params["SignedHeaders"]
	if sh == "" {
		return a, fmt.Errorf("%w: SignedHeaders is missing", ErrMalformedAuthorization)
	}
	a.signed = strings.Split(sh, ";")
	for _, h := range a.signed {
		if h == "" || h != strings.ToLower(h) {
			return a, fmt.Errorf("%w: SignedHeaders %q must be lower-case names separated by ';'", ErrMalformedAuthorization, sh)
		}
	}
	a.signature = params["Signature"]
	if len(a.signature) != 64 || strings.Trim(a.signature, "0123456789abcdef") != "" {
		return a, fmt.Errorf("%w: Signature must be 64 lower-case hex digits", ErrMalformedAuthorization)
	}
	return a, nil
}

// Package console is the reference platform's web console: a few static
// files (HTML, CSS, JavaScript written for certlab; no CDN, no framework)
// embedded in the binary and served by Handler on the platform's HTTPS API
// listener, under /console/.
//
// The console is a client of the platform's public REST API, exactly like
// the SDKs: it signs every request in the browser with SDK-HMAC-SHA256
// through WebCrypto (static/sign.js mirrors iotda.SignRequest byte for byte)
// or sends the project's X-Auth-Token. It therefore needs no server-side
// session and no endpoint of its own; the server only serves files. It
// covers the IoTDA certificate procedure end to end: upload a device CA
// [CA-UPLOAD], read its verify_code and submit the verification certificate
// [CA-VERIFY], list and delete CAs [CA-LIST] [CA-DELETE], create products,
// register certificate devices with a fingerprint computed in the browser
// from the device certificate [DEV-FINGERPRINT], freeze, unfreeze and reset
// fingerprints [DEV-FREEZE] [DEV-FINGERPRINT-SECONDARY], and a live view of
// login attempts (GET /certlab/v1/login-attempts, polled) with their reasons
// and remedies (static/remedies.json, one entry per iotda.Reason).
//
// The credentials stay in the browser tab (sessionStorage, cleared when the
// tab closes): with AK/SK only signatures travel. Every page is rendered with
// textContent, never by parsing HTML from the API.
//
// Every answer is served with a strict Content-Security-Policy (same-origin
// scripts, styles and fetches only), so the pages can load nothing from
// anywhere else.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// DefaultPrefix is where the platform mounts the console.
const DefaultPrefix = "/console/"

// DefaultPollInterval is how often the live view asks for login attempts.
const DefaultPollInterval = 2 * time.Second

// Config configures Handler. The zero Config is the platform's.
type Config struct {
	// Prefix is the URL path the handler is mounted at, with a trailing
	// slash; default DefaultPrefix ("/console/"). Requests outside it get 404.
	Prefix string
	// PollInterval is the live view's polling period; default 2 s, minimum 250 ms.
	PollInterval time.Duration
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(c.Prefix, "/") {
		c.Prefix = "/" + c.Prefix
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.PollInterval < 250*time.Millisecond {
		c.PollInterval = 250 * time.Millisecond
	}
	return c
}

// contentSecurityPolicy allows nothing but this origin: no inline script,
// no eval, no external fetch, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the console's files under cfg.Prefix (GET and HEAD only).
// Mount it on the API listener's mux at the same prefix, e.g.
//
//	mux.Handle("/console/", console.Handler(console.Config{}))
//
// The pages call the API on their own origin, so it must share the listener
// with the REST API.
func Handler(cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("console: embedded static directory missing: " + err.Error()) // a build defect, not a runtime condition
	}
	files := http.FileServerFS(sub)
	poll := strconv.FormatInt(cfg.PollInterval.Milliseconds(), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, cfg.Prefix)
		if !ok {
			if r.URL.Path+"/" == cfg.Prefix {
				http.Redirect(w, r, cfg.Prefix, http.StatusMovedPermanently)
				return
			}
			http.NotFound(w, r)
			return
		}
		if rest == "config.json" {
			// The page's settings; app.js reads them once at start.
			h.Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"poll_ms":` + poll + `}`))
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + rest
		r2.URL.RawPath = ""
		files.ServeHTTP(w, r2)
	})
}

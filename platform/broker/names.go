package broker

// names.go: formatting done once instead of on every login. Each table
// returns exactly what the standard library would format.

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"sync"

	"github.com/certlab/certlab/platform/internal/bound"
)

// cipherNames maps every cipher suite crypto/tls knows to its name.
// tls.CipherSuiteName builds the whole suite list on every call.
var cipherNames = func() map[uint16]string {
	m := make(map[uint16]string)
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, c := range list {
			if _, dup := m[c.ID]; !dup { // CipherSuiteName returns the first match
				m[c.ID] = c.Name
			}
		}
	}
	return m
}()

// cipherSuiteName is tls.CipherSuiteName without the per-call allocation.
func cipherSuiteName(id uint16) string {
	if name, ok := cipherNames[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id)
}

// nameCache bounds: at most maxCachedNames entries of at most
// maxCachedNameDER bytes of key and bound.Field (+ marker) of value: about
// 8192 x 800 bytes = 6.5 MiB in the worst case, about 200 bytes an entry for
// real certificates.
const (
	maxCachedNames   = 8192
	maxCachedNameDER = 512 // a longer name is formatted on each login (a real one is ~100 bytes)
)

// nameCache formats distinct names (keyed by their DER) once: a device
// logging in again, and every device of one CA as issuer, reuse the string.
// The same DER always parses to the same pkix.Name, so the cached string is
// the same. Names are peer-controlled (any client certificate reaches the
// handshake): the string is cut to bound.Field.
type nameCache struct {
	mu sync.RWMutex
	m  map[string]string // DER -> bound.String(Name.String(), bound.Field)
}

// format returns name.String() cut to bound.Field, name being the parsed
// form of der.
func (c *nameCache) format(der []byte, name *pkix.Name) string {
	if len(der) > maxCachedNameDER {
		return formatName(name)
	}
	c.mu.RLock()
	s, ok := c.m[string(der)] // no allocation for the lookup
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = formatName(name)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedNames {
		c.m = make(map[string]string) // simple bound: start over
	}
	c.m[string(der)] = s
	c.mu.Unlock()
	return s
}

// formatName is name.String() cut to bound.Field. Name.String formats every
// attribute of a name that may be 64 KiB of DER; that is paid once per
// connection, and only the bounded result is kept.
func formatName(name *pkix.Name) string {
	return bound.String(name.String(), bound.Field)
}

package broker

// names.go: formatting done once instead of on every login. Each table
// returns exactly what the standard library would format.

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"sync"
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

// maxCachedNames bounds nameCache (about 200 bytes an entry).
const maxCachedNames = 8192

// nameCache formats distinct names (keyed by their DER) once: a device
// logging in again, and every device of one CA as issuer, reuse the string.
// The same DER always parses to the same pkix.Name, so the cached string is
// what Name.String would return.
type nameCache struct {
	mu sync.RWMutex
	m  map[string]string // DER -> Name.String()
}

// format returns name.String(), name being the parsed form of der.
func (c *nameCache) format(der []byte, name *pkix.Name) string {
	c.mu.RLock()
	s, ok := c.m[string(der)] // no allocation for the lookup
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = name.String()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedNames {
		c.m = make(map[string]string) // simple bound: start over
	}
	c.m[string(der)] = s
	c.mu.Unlock()
	return s
}

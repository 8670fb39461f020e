package registry

// trust.go: the Trust snapshot. It is rebuilt from the in-memory CA index
// by the writer after every committed CA upload, verification or deletion
// (and at Open), then published with one atomic pointer store. Readers (the
// TLS handshake) load the pointer: no lock, no rebuild per handshake.
// [LOGIN-TLS] [CA-UNVERIFIED] [CA-DELETE]

import (
	"crypto/x509"
	"slices"
	"strings"
)

// trustKey indexes a snapshot's CAs by project and DER SHA-256.
type trustKey struct{ project, sha256 string }

// Trust returns the current trust snapshot (never nil).
func (r *Registry) Trust() *Trust { return r.trust.Load() }

// CAInProject returns the CA record with the given DER SHA-256 (lowercase
// hex) uploaded in projectID. The same CA may be uploaded in several
// projects; BySHA256 keeps only one record per hash, so the login path uses
// this to check that the anchoring CA belongs to the device's project.
func (t *Trust) CAInProject(projectID, sha256Hex string) (*CA, bool) {
	ca, ok := t.byProject[trustKey{projectID, sha256Hex}]
	return ca, ok
}

// buildTrust builds a snapshot at Open.
func (r *Registry) buildTrust() *Trust {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.buildTrustLocked()
}

// buildTrustLocked builds a snapshot from the CA index; r.mu must be held.
func (r *Registry) buildTrustLocked() *Trust {
	now := r.now()
	t := &Trust{
		Verified:  x509.NewCertPool(),
		All:       x509.NewCertPool(),
		BySHA256:  make(map[string]*CA, len(r.caByID)),
		Built:     now,
		byProject: make(map[trustKey]*CA, len(r.caByID)),
	}
	cas := make([]*CA, 0, len(r.caByID))
	for _, ca := range r.caByID {
		cas = append(cas, ca)
	}
	// Oldest first, so the BySHA256 choice below is deterministic.
	slices.SortFunc(cas, func(a, b *CA) int { return strings.Compare(a.ID, b.ID) })
	for _, ca := range cas {
		t.All.AddCert(ca.Cert)
		// [CA-UNVERIFIED] only verified CAs, and only while valid, anchor device chains.
		if ca.Verified && checkValidity("", ca.Cert, now) == nil {
			t.Verified.AddCert(ca.Cert)
		}
		t.byProject[trustKey{ca.ProjectID, ca.SHA256}] = ca
		// One record per hash: prefer a verified one, then the oldest.
		if prev, ok := t.BySHA256[ca.SHA256]; !ok || (!prev.Verified && ca.Verified) {
			t.BySHA256[ca.SHA256] = ca
		}
	}
	return t
}

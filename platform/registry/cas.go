package registry

// cas.go: device CA certificates: upload validation, duplicate detection,
// the per-project quota, proof of possession and deletion.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/certlab/certlab/iotda"
)

// maxCAContent is the longest accepted upload content, in characters. [CA-UPLOAD]
const maxCAContent = 65535

// AddCA validates and stores a device CA. [CA-UPLOAD] [CA-VALID] [CA-DUPLICATE] [CA-QUOTA]
func (r *Registry) AddCA(ctx context.Context, projectID, appID, pemContent string) (CA, error) {
	if err := r.hasProject(projectID); err != nil {
		return CA{}, fmt.Errorf("add CA: %w", err)
	}
	now := r.now()
	cert, normPEM, err := parseOnePEMCert(pemContent)
	if err != nil {
		return CA{}, fmt.Errorf("add CA: %w: %w", ErrInvalidCert, err)
	}
	if err := checkCACert(cert, now); err != nil {
		return CA{}, fmt.Errorf("add CA: %w: %w", ErrInvalidCert, err)
	}
	sum := sha256.Sum256(cert.Raw)
	ca := &CA{
		ProjectID:  projectID,
		AppID:      appID,
		CNName:     cert.Subject.CommonName,
		Verified:   false,
		VerifyCode: newUUID(), // [CA-VERIFY] the CN the verification certificate must carry
		PEM:        normPEM,
		Cert:       cert,
		SHA256:     hex.EncodeToString(sum[:]),
		CreatedAt:  now,
	}
	if len(cert.Subject.Organization) > 0 {
		ca.Owner = cert.Subject.Organization[0]
	}
	err = r.write(ctx, true, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		// [CA-DUPLICATE] same DER in the same project. Checked before the
		// quota so a re-upload is reported as what it is; the UNIQUE
		// (project_id, sha256) constraint below is the enforcement.
		var dup int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM cas WHERE project_id = ? AND sha256 = ?`, projectID, ca.SHA256).Scan(&dup); err != nil {
			return nil, err
		}
		if dup > 0 {
			return nil, fmt.Errorf("%w: certificate with SHA-256 %s is already uploaded in this project", ErrCAExists, ca.SHA256)
		}
		// [CA-QUOTA] count and insert inside the same write transaction:
		// transactions are serialised by the single writer, so no
		// concurrent upload can slip between the count and the insert.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM cas WHERE project_id = ?`, projectID).Scan(&n); err != nil {
			return nil, err
		}
		if n >= r.opts.MaxCAsPerProject {
			return nil, fmt.Errorf("%w: the project already has %d CA certificates (limit %d)", ErrCAQuota, n, r.opts.MaxCAsPerProject)
		}
		seq, err := nextCounter(ctx, tx, "id")
		if err != nil {
			return nil, err
		}
		rec := *ca
		rec.ID = r.allocID(seq) // increasing with creation [CA-LIST]
		_, err = tx.ExecContext(ctx, `INSERT INTO cas(id, project_id, app_id, cn_name, owner, verified, verify_code, pem, sha256, created_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
			rec.ID, rec.ProjectID, rec.AppID, rec.CNName, rec.Owner, rec.VerifyCode, rec.PEM, rec.SHA256, unixNano(rec.CreatedAt))
		if isUniqueViolation(err) {
			return nil, fmt.Errorf("%w: certificate with SHA-256 %s is already uploaded in this project", ErrCAExists, ca.SHA256)
		}
		if err != nil {
			return nil, err
		}
		ca = &rec
		return func() { r.addCALocked(ca) }, nil
	})
	if err != nil {
		return CA{}, fmt.Errorf("add CA: %w", err)
	}
	r.emit(Event{Kind: EventTrustChanged})
	return *ca, nil
}

// parseOnePEMCert accepts exactly one CERTIFICATE PEM block, with nothing
// but whitespace around it, and returns the certificate and the block
// re-encoded canonically. [CA-VALID]
func parseOnePEMCert(content string) (*x509.Certificate, string, error) {
	if n := utf8.RuneCountInString(content); n > maxCAContent {
		return nil, "", fmt.Errorf("content is %d characters, at most %d allowed", n, maxCAContent)
	}
	if strings.TrimSpace(content) == "" {
		return nil, "", fmt.Errorf("malformed PEM: content is empty")
	}
	start := strings.Index(content, "-----BEGIN ")
	if start < 0 {
		return nil, "", fmt.Errorf("malformed PEM: no PEM block found")
	}
	if strings.TrimSpace(content[:start]) != "" {
		return nil, "", fmt.Errorf("malformed PEM: unexpected text before the PEM block")
	}
	block, rest := pem.Decode([]byte(content[start:]))
	if block == nil {
		return nil, "", fmt.Errorf("malformed PEM: cannot decode the PEM block")
	}
	if block.Type != "CERTIFICATE" {
		return nil, "", fmt.Errorf("malformed PEM: block type is %q, want CERTIFICATE", block.Type)
	}
	if rest = bytes.TrimSpace(rest); len(rest) > 0 {
		if bytes.Contains(rest, []byte("-----BEGIN ")) {
			return nil, "", fmt.Errorf("more than one PEM block: upload exactly one CA certificate")
		}
		return nil, "", fmt.Errorf("malformed PEM: unexpected text after the PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("not an X.509 certificate: %v", err)
	}
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})), nil
}

// checkCACert enforces what makes a certificate a usable device CA, the key
// policy (iotda.CheckKey) included. [CA-VALID]
func checkCACert(c *x509.Certificate, now time.Time) error {
	if !c.BasicConstraintsValid {
		return fmt.Errorf("not a CA: no basicConstraints extension")
	}
	if !c.IsCA {
		return fmt.Errorf("not a CA: basicConstraints CA:FALSE")
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("no keyCertSign key usage")
	}
	if err := iotda.CheckKey(iotda.RoleDeviceCA, c.PublicKey); err != nil {
		return err // "RSA 1024-bit key: device CA keys must be RSA 2048..8192, …"
	}
	return checkValidity("", c, now)
}

// checkValidity reports whether now lies within c's validity period.
func checkValidity(what string, c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%snot yet valid: valid from %s to %s", what,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("%sexpired on %s", what, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// VerifyCA checks a proof-of-possession certificate and marks the CA verified. [CA-VERIFY]
func (r *Registry) VerifyCA(ctx context.Context, projectID, caID, verifyPEM string) error {
	ca, err := r.CA(projectID, caID)
	if err != nil {
		return fmt.Errorf("verify CA: %w", err)
	}
	if err := checkProof(&ca, verifyPEM, r.now()); err != nil {
		return fmt.Errorf("verify CA %s: %w: %w", caID, ErrVerifyFailed, err)
	}
	if ca.Verified {
		return nil // idempotent: already verified, nothing changes
	}
	err = r.write(ctx, true, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		res, err := tx.ExecContext(ctx, `UPDATE cas SET verified = 1 WHERE id = ? AND project_id = ?`, caID, projectID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return nil, fmt.Errorf("%w: CA %q not found", ErrNotFound, caID) // deleted meanwhile
		}
		return func() {
			if old, ok := r.caByID[caID]; ok {
				v := *old
				v.Verified = true
				r.replaceCALocked(&v)
			}
		}, nil
	})
	if err != nil {
		return fmt.Errorf("verify CA %s: %w", caID, err)
	}
	r.emit(Event{Kind: EventTrustChanged})
	return nil
}

// checkProof validates a verification certificate against ca. [CA-VERIFY]
func checkProof(ca *CA, verifyPEM string, now time.Time) error {
	block, _ := pem.Decode([]byte(verifyPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("malformed PEM: no CERTIFICATE block")
	}
	vc, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("not an X.509 certificate: %v", err)
	}
	if err := vc.CheckSignatureFrom(ca.Cert); err != nil {
		return fmt.Errorf("not signed by the CA's key: %v", err)
	}
	if vc.Subject.CommonName != ca.VerifyCode {
		return fmt.Errorf("CN %q does not match verify_code", vc.Subject.CommonName)
	}
	return checkValidity("verification certificate ", vc, now)
}

// DeleteCA deletes a CA; sessions anchored on it are told to drop. [CA-DELETE]
func (r *Registry) DeleteCA(ctx context.Context, projectID, caID string) error {
	err := r.write(ctx, true, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM cas WHERE id = ? AND project_id = ?`, caID, projectID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return nil, fmt.Errorf("%w: CA %q not found in project %q", ErrNotFound, caID, projectID)
		}
		return func() { r.removeCALocked(caID) }, nil
	})
	if err != nil {
		return fmt.Errorf("delete CA: %w", err)
	}
	// [CA-DELETE] the trust snapshot no longer holds it; live sessions must drop.
	r.emit(Event{Kind: EventCADeleted, CAID: caID}, Event{Kind: EventTrustChanged})
	return nil
}

// CA returns one CA of a project.
func (r *Registry) CA(projectID, caID string) (CA, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, err := r.projectLocked(projectID); err != nil {
		return CA{}, err
	}
	ca, ok := r.caByID[caID]
	if !ok || ca.ProjectID != projectID {
		return CA{}, fmt.Errorf("%w: CA %q not found in project %q", ErrNotFound, caID, projectID)
	}
	return *ca, nil
}

// ListCAs pages a project's CAs (appID "" = all spaces), returning the page and the total count. [CA-LIST]
func (r *Registry) ListCAs(projectID, appID string, p Page) ([]CA, int64, error) {
	limit, offset, err := checkPage(p)
	if err != nil {
		return nil, 0, fmt.Errorf("list CAs: %w", err)
	}
	marker := ""
	if p.Marker != "" {
		if marker, err = parseHexMarker(p.Marker); err != nil {
			return nil, 0, fmt.Errorf("list CAs: %w", err)
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps, err := r.projectLocked(projectID)
	if err != nil {
		return nil, 0, fmt.Errorf("list CAs: %w", err)
	}
	below := len(ps.cas)
	if marker != "" {
		below = searchBelow(ps.cas, marker, caKey)
	}
	var match func(*CA) bool
	if appID != "" {
		match = func(c *CA) bool { return c.AppID == appID }
	}
	page, total := pageDesc(ps.cas, below, match, limit, offset)
	out := make([]CA, len(page))
	for i, c := range page {
		out[i] = *c
	}
	return out, total, nil
}

func (r *Registry) addCALocked(ca *CA) {
	ps := r.projects[ca.ProjectID]
	ps.cas = insertSorted(ps.cas, ca, caKey)
	r.caByID[ca.ID] = ca
}

func (r *Registry) replaceCALocked(ca *CA) {
	replaceSorted(r.projects[ca.ProjectID].cas, ca, caKey)
	r.caByID[ca.ID] = ca
}

func (r *Registry) removeCALocked(id string) {
	ca, ok := r.caByID[id]
	if !ok {
		return
	}
	ps := r.projects[ca.ProjectID]
	ps.cas = removeSorted(ps.cas, id, caKey)
	delete(r.caByID, id)
}

func (r *Registry) loadCAs(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT id, project_id, app_id, cn_name, owner, verified, verify_code, pem, sha256, created_at FROM cas ORDER BY id`)
	if err != nil {
		return fmt.Errorf("CAs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ca := &CA{}
		var verified int
		var created int64
		if err := rows.Scan(&ca.ID, &ca.ProjectID, &ca.AppID, &ca.CNName, &ca.Owner, &verified, &ca.VerifyCode, &ca.PEM, &ca.SHA256, &created); err != nil {
			return fmt.Errorf("CAs: %w", err)
		}
		ca.Verified = verified != 0
		ca.CreatedAt = fromUnixNano(created)
		block, _ := pem.Decode([]byte(ca.PEM))
		if block == nil {
			return fmt.Errorf("CA %s: stored PEM does not decode", ca.ID)
		}
		if ca.Cert, err = x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("CA %s: %w", ca.ID, err)
		}
		if _, ok := r.projects[ca.ProjectID]; !ok {
			return fmt.Errorf("CA %s: unknown project %s", ca.ID, ca.ProjectID)
		}
		r.addCALocked(ca)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("CAs: %w", err)
	}
	return nil
}

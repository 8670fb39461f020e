package api

import (
	"net/http"

	"github.com/certlab/certlab/iotda"
)

// addCertificate: POST /v5/iot/{project_id}/certificates → 201 CACert. [CA-UPLOAD]
// Validity, duplicates and the quota are the registry's rules. [CA-VALID] [CA-DUPLICATE] [CA-QUOTA]
func (s *server) addCertificate(w http.ResponseWriter, req *request) error {
	var in iotda.CreateCertificateDto
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	if in.Content == "" {
		return errInvalid("content is required")
	}
	ca, err := s.reg.AddCA(req.Context(), req.project.ID, deref(in.AppID), in.Content)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, caJSON(ca, false))
}

// listCertificates: GET /v5/iot/{project_id}/certificates?app_id&limit&marker&offset → 200. [CA-LIST]
func (s *server) listCertificates(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	page, err := parsePage(q)
	if err != nil {
		return err
	}
	cas, total, err := s.reg.ListCAs(req.project.ID, q.Get("app_id"), page)
	if err != nil {
		return pagingError(err)
	}
	out := iotda.ListCertificatesResponse{Certificates: make([]iotda.CACert, 0, len(cas)), Page: iotda.Page{Count: total}}
	for _, ca := range cas {
		out.Certificates = append(out.Certificates, caJSON(ca, false))
	}
	if len(cas) > 0 {
		out.Page.Marker = cas[len(cas)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}

// showCertificate: GET …/certificates/{certificate_id} → 200 CACert with name and content.
func (s *server) showCertificate(w http.ResponseWriter, req *request) error {
	ca, err := s.reg.CA(req.project.ID, req.PathValue("certificate_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, caJSON(ca, true))
}

// deleteCertificate: DELETE …/certificates/{certificate_id} → 204. [CA-DELETE]
func (s *server) deleteCertificate(w http.ResponseWriter, req *request) error {
	if err := s.reg.DeleteCA(req.Context(), req.project.ID, req.PathValue("certificate_id")); err != nil {
		return err
	}
	return writeEmpty(w, http.StatusNoContent)
}

// checkCertificate: POST …/certificates/{certificate_id}/action?action_id=verify
// with {"verify_content": PEM} → 200, empty body. [CA-VERIFY]
func (s *server) checkCertificate(w http.ResponseWriter, req *request) error {
	switch action := req.URL.Query().Get("action_id"); action {
	case "verify":
	case "":
		return errInvalid("action_id is required (verify)")
	default:
		return errInvalid("action_id must be verify, got " + quote(action))
	}
	var in iotda.VerifyCertificateDto
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	if in.VerifyContent == "" {
		return errInvalid("verify_content is required")
	}
	if err := s.reg.VerifyCA(req.Context(), req.project.ID, req.PathValue("certificate_id"), in.VerifyContent); err != nil {
		return err
	}
	return writeEmpty(w, http.StatusOK)
}

package api

import (
	"net/http"
	"strconv"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// createProduct: POST /v5/iot/{project_id}/products → 201 Product.
// Field rules (protocol_type values, lengths) are the registry's.
func (s *server) createProduct(w http.ResponseWriter, req *request) error {
	var in iotda.AddProduct
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	switch {
	case in.Name == "":
		return errInvalid("name is required")
	case in.DeviceType == "":
		return errInvalid("device_type is required")
	case in.ProtocolType == "":
		return errInvalid("protocol_type is required")
	}
	p, err := s.reg.CreateProduct(req.Context(), registry.Product{
		ID:                  deref(in.ProductID),
		ProjectID:           req.project.ID,
		AppID:               deref(in.AppID),
		Name:                in.Name,
		DeviceType:          in.DeviceType,
		ProtocolType:        in.ProtocolType,
		DataFormat:          in.DataFormat,
		ManufacturerName:    deref(in.ManufacturerName),
		Industry:            deref(in.Industry),
		Description:         deref(in.Description),
		ServiceCapabilities: in.ServiceCapabilities,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, productJSON(p))
}

// listProducts: GET /v5/iot/{project_id}/products?app_id&limit&marker&offset → 200.
func (s *server) listProducts(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	page, err := parsePage(q)
	if err != nil {
		return err
	}
	ps, total, err := s.reg.ListProducts(req.project.ID, q.Get("app_id"), page)
	if err != nil {
		return pagingError(err)
	}
	out := iotda.ListProductsResponse{Products: make([]iotda.Product, 0, len(ps)), Page: iotda.Page{Count: total}}
	for _, p := range ps {
		out.Products = append(out.Products, productJSON(p))
	}
	if len(ps) > 0 {
		out.Page.Marker = ps[len(ps)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}

// showProduct: GET …/products/{product_id} → 200 Product.
func (s *server) showProduct(w http.ResponseWriter, req *request) error {
	p, err := s.reg.Product(req.project.ID, req.PathValue("product_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, productJSON(p))
}

// deleteProduct: DELETE …/products/{product_id} → 204; refused while it has devices.
func (s *server) deleteProduct(w http.ResponseWriter, req *request) error {
	if err := s.reg.DeleteProduct(req.Context(), req.project.ID, req.PathValue("product_id")); err != nil {
		return err
	}
	return writeEmpty(w, http.StatusNoContent)
}

// deref returns *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// quote quotes s for an error message.
func quote(s string) string { return strconv.Quote(s) }

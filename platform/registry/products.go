package registry

// products.go: products (device templates). A product's protocol_type
// decides whether its devices may use certificates. [PROTO-MQTT-ONLY]

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/certlab/certlab/iotda"
)

const (
	maxProductID           = 36
	maxProductName         = 64
	maxDeviceType          = 32
	maxServiceCapabilities = 500 * 1024 // bytes of JSON
	// allFMarker is IoTDA's documented default marker ("from the newest").
	allFMarker = "ffffffffffffffffffffffff"
)

// CreateProduct stores a product.
func (r *Registry) CreateProduct(ctx context.Context, p Product) (Product, error) {
	if err := r.hasProject(p.ProjectID); err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	if err := checkProduct(&p); err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	p.CreatedAt = r.now()
	rec := p
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		rec = p
		if rec.ID == "" {
			seq, err := nextCounter(ctx, tx, "id")
			if err != nil {
				return nil, err
			}
			rec.ID = r.allocID(seq)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO products(project_id, id, app_id, name, device_type, protocol_type, data_format,
			manufacturer_name, industry, description, service_capabilities, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			rec.ProjectID, rec.ID, rec.AppID, rec.Name, rec.DeviceType, rec.ProtocolType, rec.DataFormat,
			rec.ManufacturerName, rec.Industry, rec.Description, string(rec.ServiceCapabilities), unixNano(rec.CreatedAt))
		if isUniqueViolation(err) {
			return nil, fmt.Errorf("%w: product_id %q already exists in the project", ErrProductExists, rec.ID)
		}
		if err != nil {
			return nil, err
		}
		stored := rec
		return func() { r.addProductLocked(&stored) }, nil
	})
	if err != nil {
		return Product{}, fmt.Errorf("create product: %w", err)
	}
	return rec, nil
}

// checkProduct validates and normalises a new product's fields.
func checkProduct(p *Product) error {
	if p.ID != "" {
		if err := checkID("product_id", p.ID, maxProductID); err != nil {
			return err
		}
	}
	if err := checkLen("name", p.Name, 1, maxProductName); err != nil {
		return err
	}
	if err := checkLen("device_type", p.DeviceType, 1, maxDeviceType); err != nil {
		return err
	}
	// Exact case, as IoTDA's SDK enumerates them. [PROTO-MQTT-ONLY] depends on it.
	if !slices.Contains(iotda.ProtocolTypes, p.ProtocolType) {
		return invalidf("protocol_type must be one of %v, got %q", iotda.ProtocolTypes, p.ProtocolType)
	}
	switch p.DataFormat {
	case "":
		p.DataFormat = "json"
	case "json", "binary":
	default:
		return invalidf("data_format must be json or binary, got %q", p.DataFormat)
	}
	sc := bytes.TrimSpace(p.ServiceCapabilities)
	if len(sc) == 0 || string(sc) == "null" {
		p.ServiceCapabilities = json.RawMessage("[]")
		return nil
	}
	if err := checkJSON("service_capabilities", sc, maxServiceCapabilities); err != nil {
		return err
	}
	if sc[0] != '[' {
		return invalidf("service_capabilities must be a JSON array")
	}
	p.ServiceCapabilities = append(json.RawMessage(nil), sc...)
	return nil
}

// Product returns one product of a project.
func (r *Registry) Product(projectID, productID string) (Product, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.productLocked(projectID, productID)
	if err != nil {
		return Product{}, err
	}
	return *p, nil
}

func (r *Registry) productLocked(projectID, productID string) (*Product, error) {
	ps, err := r.projectLocked(projectID)
	if err != nil {
		return nil, err
	}
	i, ok := slices.BinarySearchFunc(ps.products, productID, func(p *Product, id string) int {
		switch {
		case p.ID < id:
			return -1
		case p.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return nil, fmt.Errorf("%w: product %q not found in project %q", ErrNotFound, productID, projectID)
	}
	return ps.products[i], nil
}

// ListProducts pages a project's products. Products are ordered by
// product_id, descending; the marker is the product_id of the last record of
// the previous page ("ffffffffffffffffffffffff", IoTDA's default, = from the
// first). Allocated product IDs grow with creation, so for them this is
// newest first. [CA-LIST]
func (r *Registry) ListProducts(projectID, appID string, p Page) ([]Product, int64, error) {
	limit, offset, err := checkPage(p)
	if err != nil {
		return nil, 0, fmt.Errorf("list products: %w", err)
	}
	marker := p.Marker
	if marker == allFMarker {
		marker = ""
	}
	if marker != "" {
		if err := checkID("marker", marker, maxProductID); err != nil {
			return nil, 0, fmt.Errorf("list products: %w", err)
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps, err := r.projectLocked(projectID)
	if err != nil {
		return nil, 0, fmt.Errorf("list products: %w", err)
	}
	below := len(ps.products)
	if marker != "" {
		below = searchBelow(ps.products, marker, productKey)
	}
	var match func(*Product) bool
	if appID != "" {
		match = func(p *Product) bool { return p.AppID == appID }
	}
	page, total := pageDesc(ps.products, below, match, limit, offset)
	out := make([]Product, len(page))
	for i, p := range page {
		out[i] = *p
	}
	return out, total, nil
}

// DeleteProduct deletes a product that has no devices.
func (r *Registry) DeleteProduct(ctx context.Context, projectID, productID string) error {
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		// Counted inside the transaction: a device registered concurrently
		// is either counted here or refused by the foreign key.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE project_id = ? AND product_id = ?`, projectID, productID).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("%w: product %q still has %d devices", ErrProductInUse, productID, n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM products WHERE project_id = ? AND id = ?`, projectID, productID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return nil, fmt.Errorf("%w: product %q not found in project %q", ErrNotFound, productID, projectID)
		}
		return func() {
			ps := r.projects[projectID]
			ps.products = removeSorted(ps.products, productID, productKey)
		}, nil
	})
	if err != nil {
		return fmt.Errorf("delete product: %w", err)
	}
	return nil
}

func (r *Registry) addProductLocked(p *Product) {
	ps := r.projects[p.ProjectID]
	ps.products = insertSorted(ps.products, p, productKey)
}

func (r *Registry) loadProducts(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT project_id, id, app_id, name, device_type, protocol_type, data_format,
		manufacturer_name, industry, description, service_capabilities, created_at FROM products ORDER BY project_id, id`)
	if err != nil {
		return fmt.Errorf("products: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p := &Product{}
		var sc string
		var created int64
		if err := rows.Scan(&p.ProjectID, &p.ID, &p.AppID, &p.Name, &p.DeviceType, &p.ProtocolType, &p.DataFormat,
			&p.ManufacturerName, &p.Industry, &p.Description, &sc, &created); err != nil {
			return fmt.Errorf("products: %w", err)
		}
		p.ServiceCapabilities = json.RawMessage(sc)
		p.CreatedAt = fromUnixNano(created)
		if _, ok := r.projects[p.ProjectID]; !ok {
			return fmt.Errorf("product %s: unknown project %s", p.ID, p.ProjectID)
		}
		r.addProductLocked(p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("products: %w", err)
	}
	return nil
}

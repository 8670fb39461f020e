// Package registry holds the reference platform's domain rules and durable
// state: projects (tenants), device CAs (100 per project, proof of
// possession), products and devices (node_id, device_id, fingerprints,
// status). Writes go to SQLite (pure Go, WAL, synchronous) inside
// transactions, so quotas and uniqueness hold under concurrency and every
// acknowledged write survives kill -9; reads on the login hot path use
// in-memory indexes kept in step with every committed write.
package registry

import (
	"context"
	"time"
)

// Options configure Open.
type Options struct {
	// Now returns the current time; nil = time.Now. Tests inject a clock.
	Now func() time.Time
	// MaxCAsPerProject overrides the CA quota; 0 = MaxCAsPerProject (100).
	// Only tests that prove the BDD suite can fail set it.
	MaxCAsPerProject int
	// AllowCertificatesOnAnyProtocol disables [PROTO-MQTT-ONLY]; only for
	// tests that prove the BDD suite can fail.
	AllowCertificatesOnAnyProtocol bool
}

// Registry is the platform's durable registry. It is safe for concurrent use.
type Registry struct { /* TODO(registry): implementation */
}

// Open opens (creating if needed) the SQLite registry at path and loads the in-memory indexes.
func Open(ctx context.Context, path string, opts Options) (*Registry, error) { panic("TODO") }

// Close closes the database.
func (r *Registry) Close() error { panic("TODO") }

// OnChange registers fn to be called after every committed change that matters to live sessions.
func (r *Registry) OnChange(fn func(Event)) { panic("TODO") }

// ---- projects ----

// CreateProject creates a project with fresh credentials. The name must be unique.
func (r *Registry) CreateProject(ctx context.Context, name string) (Project, error) { panic("TODO") }

// Projects lists all projects, oldest first.
func (r *Registry) Projects() []Project { panic("TODO") }

// Project returns a project by ID.
func (r *Registry) Project(id string) (Project, bool) { panic("TODO") }

// ProjectByAccessKey returns the project whose AK is ak.
func (r *Registry) ProjectByAccessKey(ak string) (Project, bool) { panic("TODO") }

// ProjectByToken returns the project whose static X-Auth-Token is token.
func (r *Registry) ProjectByToken(token string) (Project, bool) { panic("TODO") }

// ---- device CAs ----

// AddCA validates and stores a device CA. [CA-UPLOAD] [CA-VALID] [CA-DUPLICATE] [CA-QUOTA]
func (r *Registry) AddCA(ctx context.Context, projectID, appID, pemContent string) (CA, error) {
	panic("TODO")
}

// VerifyCA checks a proof-of-possession certificate and marks the CA verified. [CA-VERIFY]
func (r *Registry) VerifyCA(ctx context.Context, projectID, caID, verifyPEM string) error {
	panic("TODO")
}

// DeleteCA deletes a CA; sessions anchored on it are told to drop. [CA-DELETE]
func (r *Registry) DeleteCA(ctx context.Context, projectID, caID string) error { panic("TODO") }

// CA returns one CA of a project.
func (r *Registry) CA(projectID, caID string) (CA, error) { panic("TODO") }

// ListCAs pages a project's CAs (appID "" = all spaces), returning the page and the total count. [CA-LIST]
func (r *Registry) ListCAs(projectID, appID string, p Page) ([]CA, int64, error) { panic("TODO") }

// Trust returns the current trust snapshot (never nil).
func (r *Registry) Trust() *Trust { panic("TODO") }

// ---- products ----

// CreateProduct stores a product.
func (r *Registry) CreateProduct(ctx context.Context, p Product) (Product, error) { panic("TODO") }

// Product returns one product of a project.
func (r *Registry) Product(projectID, productID string) (Product, error) { panic("TODO") }

// ListProducts pages a project's products.
func (r *Registry) ListProducts(projectID, appID string, p Page) ([]Product, int64, error) {
	panic("TODO")
}

// DeleteProduct deletes a product that has no devices.
func (r *Registry) DeleteProduct(ctx context.Context, projectID, productID string) error {
	panic("TODO")
}

// ---- devices ----

// CreateDevice registers a device. [DEV-NODEID] [DEV-ID] [DEV-FINGERPRINT] [PROTO-MQTT-ONLY]
func (r *Registry) CreateDevice(ctx context.Context, projectID string, d NewDevice) (Device, error) {
	panic("TODO")
}

// Device returns one device of a project.
func (r *Registry) Device(projectID, deviceID string) (Device, error) { panic("TODO") }

// LookupDevice finds a device by ID across all projects, from memory (login hot path).
func (r *Registry) LookupDevice(deviceID string) (Device, bool) { panic("TODO") }

// ListDevices pages a project's devices.
func (r *Registry) ListDevices(projectID string, f DeviceFilter, p Page) ([]Device, int64, error) {
	panic("TODO")
}

// UpdateDevice changes name and/or description (nil = unchanged) and extension_info (nil = unchanged).
func (r *Registry) UpdateDevice(ctx context.Context, projectID, deviceID string, name, description *string, ext []byte) (Device, error) {
	panic("TODO")
}

// DeleteDevice deletes a device.
func (r *Registry) DeleteDevice(ctx context.Context, projectID, deviceID string) error { panic("TODO") }

// ResetFingerprint sets (or clears, with "") the PRIMARY or SECONDARY fingerprint. [DEV-FINGERPRINT-SECONDARY]
func (r *Registry) ResetFingerprint(ctx context.Context, projectID, deviceID, fingerprintType, fingerprint string, force bool) (Device, error) {
	panic("TODO")
}

// SetFrozen freezes or unfreezes a device. [DEV-FREEZE]
func (r *Registry) SetFrozen(ctx context.Context, projectID, deviceID string, frozen bool) (Device, error) {
	panic("TODO")
}

// BindFingerprint records fp as the primary fingerprint if none is set yet;
// it reports whether fp is now the device's primary. [DEV-FINGERPRINT-BIND]
func (r *Registry) BindFingerprint(ctx context.Context, deviceID, fp string) (bool, error) {
	panic("TODO")
}

// SetOnline records a successful login (status ONLINE, active_time on the first) or a disconnect (OFFLINE). [DEV-STATUS]
func (r *Registry) SetOnline(ctx context.Context, deviceID string, online bool, at time.Time) error {
	panic("TODO")
}

// Counts reports registry sizes for metrics: projects, CAs, verified CAs, products, devices.
func (r *Registry) Counts() (projects, cas, verifiedCAs, products, devices int) { panic("TODO") }

package registry

// devices.go: device registration and everything that changes a device.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/certlab/certlab/iotda"
)

const (
	maxNodeID        = 64
	maxDeviceID      = 128
	maxDeviceName    = 256
	maxDescription   = 2048
	maxExtensionInfo = 1024 // bytes of JSON
	minSecret        = 8
	maxSecret        = 32
)

// CreateDevice registers a device. [DEV-NODEID] [DEV-ID] [DEV-FINGERPRINT] [PROTO-MQTT-ONLY]
func (r *Registry) CreateDevice(ctx context.Context, projectID string, d NewDevice) (Device, error) {
	if err := r.hasProject(projectID); err != nil {
		return Device{}, fmt.Errorf("create device: %w", err)
	}
	if err := checkNewDevice(&d); err != nil {
		return Device{}, fmt.Errorf("create device: %w", err)
	}
	var out Device
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		dev, err := r.insertDevice(ctx, tx, projectID, d, r.now())
		if err != nil {
			return nil, err
		}
		out = dev
		return func() { r.addDeviceLocked(dev) }, nil
	})
	if err != nil {
		return Device{}, fmt.Errorf("create device: %w", err)
	}
	return out, nil
}

// CreateDevices registers many devices of one project in a single
// transaction: all of them or, on the first error, none. It is for seeding
// large fleets (one fsync for the lot); the rules are CreateDevice's.
func (r *Registry) CreateDevices(ctx context.Context, projectID string, ds []NewDevice) ([]Device, error) {
	if err := r.hasProject(projectID); err != nil {
		return nil, fmt.Errorf("create devices: %w", err)
	}
	for i := range ds {
		if err := checkNewDevice(&ds[i]); err != nil {
			return nil, fmt.Errorf("create devices: #%d: %w", i, err)
		}
	}
	var out []Device
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		now := r.now()
		devs := make([]Device, 0, len(ds))
		for i, d := range ds {
			dev, err := r.insertDevice(ctx, tx, projectID, d, now)
			if err != nil {
				return nil, fmt.Errorf("#%d: %w", i, err)
			}
			devs = append(devs, dev)
		}
		out = devs
		return func() {
			for _, dev := range devs {
				r.addDeviceLocked(dev)
			}
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("create devices: %w", err)
	}
	return out, nil
}

// checkNewDevice validates and normalises the stateless fields of d.
func checkNewDevice(d *NewDevice) error {
	if err := checkID("node_id", d.NodeID, maxNodeID); err != nil { // [DEV-NODEID]
		return err
	}
	if d.ProductID == "" {
		return invalidf("product_id is required")
	}
	if err := checkID("product_id", d.ProductID, maxProductID); err != nil {
		return err
	}
	if d.DeviceID != "" {
		if err := checkID("device_id", d.DeviceID, maxDeviceID); err != nil { // [DEV-ID]
			return err
		}
	}
	if err := checkLen("device_name", d.Name, 0, maxDeviceName); err != nil {
		return err
	}
	if err := checkLen("description", d.Description, 0, maxDescription); err != nil {
		return err
	}
	if d.Timeout < 0 {
		return invalidf("timeout must not be negative, got %d", d.Timeout)
	}
	if len(d.ExtensionInfo) > 0 {
		if err := checkJSON("extension_info", d.ExtensionInfo, maxExtensionInfo); err != nil {
			return err
		}
	}
	switch d.AuthType {
	case "", iotda.AuthSecret:
		d.AuthType = iotda.AuthSecret
		if d.Fingerprint != "" || d.SecondaryFingerprint != "" {
			return invalidf("fingerprint is only allowed with auth_type CERTIFICATES")
		}
		if d.Secret == "" {
			d.Secret = randString(alnum, maxSecret)
		} else if len(d.Secret) < minSecret || len(d.Secret) > maxSecret || !isIDChars(d.Secret) {
			return invalidf("secret must be 8-32 characters of [A-Za-z0-9_-]")
		}
	case iotda.AuthCertificates:
		if d.Secret != "" {
			return invalidf("secret is only allowed with auth_type SECRET")
		}
		var err error
		// [DEV-FINGERPRINT] optional; 40 or 64 hex, stored lowercase.
		if d.Fingerprint, err = normFingerprint("fingerprint", d.Fingerprint); err != nil {
			return err
		}
		if d.SecondaryFingerprint, err = normFingerprint("secondary_fingerprint", d.SecondaryFingerprint); err != nil {
			return err
		}
	default:
		return invalidf("auth_type must be SECRET or CERTIFICATES, got %q", d.AuthType)
	}
	return nil
}

// insertDevice does the stateful checks and the INSERT of one device inside tx.
func (r *Registry) insertDevice(ctx context.Context, tx *sql.Tx, projectID string, d NewDevice, now time.Time) (Device, error) {
	var protocol, productApp string
	err := tx.QueryRowContext(ctx, `SELECT protocol_type, app_id FROM products WHERE project_id = ? AND id = ?`,
		projectID, d.ProductID).Scan(&protocol, &productApp)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("%w: product %q not found in project %q", ErrNotFound, d.ProductID, projectID)
	}
	if err != nil {
		return Device{}, err
	}
	// [PROTO-MQTT-ONLY] only MQTT devices can use X.509 certificates.
	if d.AuthType == iotda.AuthCertificates && protocol != iotda.ProtocolMQTT && !r.opts.AllowCertificatesOnAnyProtocol {
		return Device{}, fmt.Errorf("%w: product %q has protocol_type %s", ErrNotMQTTProduct, d.ProductID, protocol)
	}
	id := d.DeviceID
	if id == "" {
		id = d.ProductID + "_" + d.NodeID // [DEV-ID] platform-allocated form
	}
	appID := d.AppID
	if appID == "" {
		appID = productApp
	}
	seq, err := nextCounter(ctx, tx, "device")
	if err != nil {
		return Device{}, err
	}
	dev := Device{
		ID:                   id,
		Seq:                  seq,
		ProjectID:            projectID,
		AppID:                appID,
		NodeID:               d.NodeID,
		Name:                 d.Name,
		ProductID:            d.ProductID,
		Description:          d.Description,
		GatewayID:            id, // a directly connected device is its own gateway
		AuthType:             d.AuthType,
		Secret:               d.Secret,
		Fingerprint:          d.Fingerprint,
		SecondaryFingerprint: d.SecondaryFingerprint,
		SecureAccess:         d.SecureAccess,
		Timeout:              d.Timeout,
		Status:               iotda.StatusInactive, // [DEV-STATUS] until the first login
		CreatedAt:            now,
	}
	if len(d.ExtensionInfo) > 0 {
		dev.ExtensionInfo = append(json.RawMessage(nil), d.ExtensionInfo...)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO devices(seq, device_id, project_id, app_id, node_id, name, product_id, description,
		gateway_id, auth_type, secret, fingerprint, secondary_fingerprint, secure_access, timeout, frozen, status,
		extension_info, created_at, active_time, status_update_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, 0)`,
		dev.Seq, dev.ID, dev.ProjectID, dev.AppID, dev.NodeID, dev.Name, dev.ProductID, dev.Description,
		dev.GatewayID, dev.AuthType, dev.Secret, dev.Fingerprint, dev.SecondaryFingerprint, boolInt(dev.SecureAccess),
		dev.Timeout, dev.Status, nullJSON(dev.ExtensionInfo), unixNano(dev.CreatedAt))
	// [DEV-ID] uniqueness across all projects is the UNIQUE(device_id)
	// constraint, checked inside the transaction: of N concurrent requests
	// for one device_id exactly one commits.
	if isUniqueViolation(err) {
		return Device{}, fmt.Errorf("%w: device_id %q is already registered", ErrDeviceExists, id)
	}
	if err != nil {
		return Device{}, err
	}
	return dev, nil
}

// Device returns one device of a project.
func (r *Registry) Device(projectID, deviceID string) (Device, error) {
	e := r.devs.get(deviceID)
	if e == nil {
		return Device{}, fmt.Errorf("%w: device %q not found", ErrNotFound, deviceID)
	}
	d := e.device()
	if d.ProjectID != projectID {
		return Device{}, fmt.Errorf("%w: device %q not found", ErrNotFound, deviceID)
	}
	return d, nil
}

// LookupDevice finds a device by ID across all projects, from memory (login hot path).
// It takes one shard read lock and copies the struct; it does not allocate.
// The returned value shares ExtensionInfo with the index: do not modify it.
func (r *Registry) LookupDevice(deviceID string) (Device, bool) {
	e := r.devs.get(deviceID)
	if e == nil {
		return Device{}, false
	}
	return e.device(), true
}

// ListDevices pages a project's devices, newest first; the marker is the
// Seq of the last device of the previous page as 24 hex digits. [CA-LIST]
func (r *Registry) ListDevices(projectID string, f DeviceFilter, p Page) ([]Device, int64, error) {
	limit, offset, err := checkPage(p)
	if err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	var bound int64 = -1
	if p.Marker != "" {
		if bound, err = parseSeqMarker(p.Marker); err != nil {
			return nil, 0, fmt.Errorf("list devices: %w", err)
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps, err := r.projectLocked(projectID)
	if err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	below := len(ps.devices)
	if bound >= 0 {
		below = searchBelow(ps.devices, bound, deviceKey)
	}
	var match func(*devEntry) bool
	if f != (DeviceFilter{}) {
		match = func(e *devEntry) bool {
			d := e.cur.Load()
			return (f.ProductID == "" || d.ProductID == f.ProductID) &&
				(f.NodeID == "" || d.NodeID == f.NodeID) &&
				(f.AppID == "" || d.AppID == f.AppID)
		}
	}
	page, total := pageDesc(ps.devices, below, match, limit, offset)
	out := make([]Device, len(page))
	for i, e := range page {
		out[i] = e.device()
	}
	return out, total, nil
}

// Marker returns the paging marker of d (its Seq as 24 hex digits): what
// the API puts in page.marker after a device list. [CA-LIST]
func (d Device) Marker() string { return seqMarker(d.Seq) }

// Marker returns the paging marker of ca (its ID). [CA-LIST]
func (ca CA) Marker() string { return ca.ID }

// Marker returns the paging marker of p (its product_id). [CA-LIST]
func (p Product) Marker() string { return p.ID }

// deviceInProject returns the entry of a device of projectID or ErrNotFound.
func (r *Registry) deviceInProject(projectID, deviceID string) (*devEntry, error) {
	e := r.devs.get(deviceID)
	if e == nil || e.cur.Load().ProjectID != projectID {
		return nil, fmt.Errorf("%w: device %q not found in project %q", ErrNotFound, deviceID, projectID)
	}
	return e, nil
}

// updateDevice runs one UPDATE on a device of projectID inside the writer,
// then applies change to the in-memory value after commit, and returns it.
func (r *Registry) updateDevice(ctx context.Context, projectID, deviceID, query string, args []any, change func(d *Device)) (Device, error) {
	if _, err := r.deviceInProject(projectID, deviceID); err != nil {
		return Device{}, err
	}
	var out Device
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		res, err := tx.ExecContext(ctx, query, append(args, deviceID, projectID)...)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return nil, fmt.Errorf("%w: device %q not found in project %q", ErrNotFound, deviceID, projectID)
		}
		return func() {
			if e := r.devs.get(deviceID); e != nil {
				out = e.update(change)
			}
		}, nil
	})
	return out, err
}

// UpdateDevice changes name and/or description (nil = unchanged) and extension_info (nil = unchanged).
func (r *Registry) UpdateDevice(ctx context.Context, projectID, deviceID string, name, description *string, ext []byte) (Device, error) {
	set, args := "", []any{}
	add := func(col string, v any) {
		if set != "" {
			set += ", "
		}
		set += col + " = ?"
		args = append(args, v)
	}
	if name != nil {
		if err := checkLen("device_name", *name, 0, maxDeviceName); err != nil {
			return Device{}, fmt.Errorf("update device: %w", err)
		}
		add("name", *name)
	}
	if description != nil {
		if err := checkLen("description", *description, 0, maxDescription); err != nil {
			return Device{}, fmt.Errorf("update device: %w", err)
		}
		add("description", *description)
	}
	var extCopy json.RawMessage
	if ext != nil {
		if err := checkJSON("extension_info", ext, maxExtensionInfo); err != nil {
			return Device{}, fmt.Errorf("update device: %w", err)
		}
		extCopy = append(json.RawMessage(nil), ext...)
		add("extension_info", string(extCopy))
	}
	if set == "" { // nothing to change
		d, err := r.Device(projectID, deviceID)
		if err != nil {
			return Device{}, fmt.Errorf("update device: %w", err)
		}
		return d, nil
	}
	d, err := r.updateDevice(ctx, projectID, deviceID, `UPDATE devices SET `+set+` WHERE device_id = ? AND project_id = ?`, args,
		func(d *Device) {
			if name != nil {
				d.Name = *name
			}
			if description != nil {
				d.Description = *description
			}
			if extCopy != nil {
				d.ExtensionInfo = extCopy
			}
		})
	if err != nil {
		return Device{}, fmt.Errorf("update device: %w", err)
	}
	return d, nil
}

// DeleteDevice deletes a device.
func (r *Registry) DeleteDevice(ctx context.Context, projectID, deviceID string) error {
	if _, err := r.deviceInProject(projectID, deviceID); err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE device_id = ? AND project_id = ?`, deviceID, projectID)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return nil, fmt.Errorf("%w: device %q not found in project %q", ErrNotFound, deviceID, projectID)
		}
		return func() { r.removeDeviceLocked(deviceID) }, nil
	})
	if err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	r.emit(Event{Kind: EventDeviceDeleted, DeviceID: deviceID})
	return nil
}

// ResetFingerprint sets (or clears, with "") the PRIMARY or SECONDARY fingerprint. [DEV-FINGERPRINT-SECONDARY]
func (r *Registry) ResetFingerprint(ctx context.Context, projectID, deviceID, fingerprintType, fingerprint string, force bool) (Device, error) {
	col := "fingerprint"
	switch fingerprintType {
	case "", iotda.FingerprintPrimary:
	case iotda.FingerprintSecondary:
		col = "secondary_fingerprint"
	default:
		return Device{}, fmt.Errorf("reset fingerprint: %w", invalidf("fingerprint_type must be PRIMARY or SECONDARY, got %q", fingerprintType))
	}
	fp, err := normFingerprint("fingerprint", fingerprint) // [DEV-FINGERPRINT]
	if err != nil {
		return Device{}, fmt.Errorf("reset fingerprint: %w", err)
	}
	e, err := r.deviceInProject(projectID, deviceID)
	if err != nil {
		return Device{}, fmt.Errorf("reset fingerprint: %w", err)
	}
	if at := e.cur.Load().AuthType; at != iotda.AuthCertificates {
		return Device{}, fmt.Errorf("reset fingerprint: %w", invalidf("device %q uses auth_type %s, not CERTIFICATES", deviceID, at))
	}
	d, err := r.updateDevice(ctx, projectID, deviceID, `UPDATE devices SET `+col+` = ? WHERE device_id = ? AND project_id = ?`, []any{fp},
		func(d *Device) {
			if col == "fingerprint" {
				d.Fingerprint = fp
			} else {
				d.SecondaryFingerprint = fp
			}
		})
	if err != nil {
		return Device{}, fmt.Errorf("reset fingerprint: %w", err)
	}
	r.emit(Event{Kind: EventFingerprintReset, DeviceID: deviceID, Force: force})
	return d, nil
}

// SetFrozen freezes or unfreezes a device. [DEV-FREEZE]
func (r *Registry) SetFrozen(ctx context.Context, projectID, deviceID string, frozen bool) (Device, error) {
	d, err := r.updateDevice(ctx, projectID, deviceID, `UPDATE devices SET frozen = ? WHERE device_id = ? AND project_id = ?`,
		[]any{boolInt(frozen)}, func(d *Device) { d.Frozen = frozen })
	if err != nil {
		return Device{}, fmt.Errorf("set frozen: %w", err)
	}
	if frozen {
		r.emit(Event{Kind: EventDeviceFrozen, DeviceID: deviceID}) // [DEV-FREEZE] its live session must drop
	}
	return d, nil
}

// BindFingerprint records fp as the primary fingerprint if none is set yet;
// it reports whether fp is now the device's primary. [DEV-FINGERPRINT-BIND]
// The binding is committed (durable) before it returns true.
func (r *Registry) BindFingerprint(ctx context.Context, deviceID, fp string) (bool, error) {
	fp, err := normFingerprint("fingerprint", fp)
	if err != nil || fp == "" {
		if err == nil {
			err = invalidf("fingerprint is required")
		}
		return false, fmt.Errorf("bind fingerprint: %w", err)
	}
	e := r.devs.get(deviceID)
	if e == nil {
		return false, fmt.Errorf("bind fingerprint: %w: device %q not found", ErrNotFound, deviceID)
	}
	cur := e.cur.Load()
	if cur.AuthType != iotda.AuthCertificates {
		return false, fmt.Errorf("bind fingerprint: %w", invalidf("device %q uses auth_type %s, not CERTIFICATES", deviceID, cur.AuthType))
	}
	// Fast path: a primary is already set (memory only holds committed values).
	if cur.Fingerprint != "" {
		return cur.Fingerprint == fp, nil
	}
	bound := false
	err = r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		// Set only if still empty, and read back, in one transaction.
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET fingerprint = ? WHERE device_id = ? AND fingerprint = ''`, fp, deviceID); err != nil {
			return nil, err
		}
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT fingerprint FROM devices WHERE device_id = ?`, deviceID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: device %q not found", ErrNotFound, deviceID)
		}
		if err != nil {
			return nil, err
		}
		bound = cur == fp
		return func() {
			if e := r.devs.get(deviceID); e != nil {
				e.update(func(d *Device) { d.Fingerprint = cur })
			}
		}, nil
	})
	if err != nil {
		return false, fmt.Errorf("bind fingerprint: %w", err)
	}
	return bound, nil
}

// Counts reports registry sizes for metrics: projects, CAs, verified CAs, products, devices.
func (r *Registry) Counts() (projects, cas, verifiedCAs, products, devices int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	projects = len(r.order)
	cas = len(r.caByID)
	for _, ca := range r.caByID {
		if ca.Verified {
			verifiedCAs++
		}
	}
	for _, ps := range r.order {
		products += len(ps.products)
		devices += len(ps.devices)
	}
	return projects, cas, verifiedCAs, products, devices
}

func (r *Registry) addDeviceLocked(d Device) {
	e := newDevEntry(d)
	r.devs.put(d.ID, e)
	ps := r.projects[d.ProjectID]
	ps.devices = insertSorted(ps.devices, e, deviceKey)
}

func (r *Registry) removeDeviceLocked(id string) {
	e := r.devs.get(id)
	if e == nil {
		return
	}
	d := e.cur.Load()
	ps := r.projects[d.ProjectID]
	ps.devices = removeSorted(ps.devices, d.Seq, deviceKey)
	r.devs.remove(id)
}

// nullJSON stores absent JSON as NULL.
func nullJSON(v json.RawMessage) any {
	if len(v) == 0 {
		return nil
	}
	return string(v)
}

func (r *Registry) loadDevices(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT seq, device_id, project_id, app_id, node_id, name, product_id, description,
		gateway_id, auth_type, secret, fingerprint, secondary_fingerprint, secure_access, timeout, frozen, status,
		extension_info, created_at, active_time, status_update_time FROM devices ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d Device
		var secure, frozen int
		var ext sql.NullString
		var created, active, updated int64
		if err := rows.Scan(&d.Seq, &d.ID, &d.ProjectID, &d.AppID, &d.NodeID, &d.Name, &d.ProductID, &d.Description,
			&d.GatewayID, &d.AuthType, &d.Secret, &d.Fingerprint, &d.SecondaryFingerprint, &secure, &d.Timeout, &frozen, &d.Status,
			&ext, &created, &active, &updated); err != nil {
			return fmt.Errorf("devices: %w", err)
		}
		d.SecureAccess = secure != 0
		d.Frozen = frozen != 0
		if ext.Valid && ext.String != "" {
			d.ExtensionInfo = json.RawMessage(ext.String)
		}
		d.CreatedAt = fromUnixNano(created)
		d.ActiveTime = fromUnixNano(active)
		d.StatusUpdateTime = fromUnixNano(updated)
		if _, ok := r.projects[d.ProjectID]; !ok {
			return fmt.Errorf("device %s: unknown project %s", d.ID, d.ProjectID)
		}
		r.addDeviceLocked(d)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	return nil
}

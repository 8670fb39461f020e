package iotda

import (
	"context"
	"net/http"
)

// Device operations (docs/iotda.md §7).

// DeviceListOptions filters and pages ListDevices.
type DeviceListOptions struct {
	ProductID string
	NodeID    string
	ListOptions
}

// AddDevice registers a device: POST /v5/iot/{project_id}/devices → 201.
func (c *Client) AddDevice(ctx context.Context, in AddDevice) (*Device, error) {
	var out Device
	err := c.do(ctx, call{op: "add device", method: http.MethodPost, path: c.projectPath("devices"),
		in: in, want: []int{http.StatusCreated}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ShowDevice returns one device.
func (c *Client) ShowDevice(ctx context.Context, id string) (*Device, error) {
	var out Device
	err := c.do(ctx, call{op: "show device", method: http.MethodGet, path: c.projectPath("devices", id),
		want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListDevices pages the project's devices, optionally by product or node.
func (c *Client) ListDevices(ctx context.Context, o DeviceListOptions) (*ListDevicesResponse, error) {
	q := o.values()
	if o.ProductID != "" {
		q.Set("product_id", o.ProductID)
	}
	if o.NodeID != "" {
		q.Set("node_id", o.NodeID)
	}
	var out ListDevicesResponse
	err := c.do(ctx, call{op: "list devices", method: http.MethodGet, path: c.projectPath("devices"),
		query: q, want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateDevice changes a device's name, description or extension info: PUT → 200.
func (c *Client) UpdateDevice(ctx context.Context, id string, in UpdateDevice) (*Device, error) {
	var out Device
	err := c.do(ctx, call{op: "update device", method: http.MethodPut, path: c.projectPath("devices", id),
		in: in, want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteDevice deletes a device → 204.
func (c *Client) DeleteDevice(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "delete device", method: http.MethodDelete, path: c.projectPath("devices", id),
		want: []int{http.StatusNoContent}})
}

// ResetFingerprint sets a device's primary or secondary certificate
// fingerprint: POST …/devices/{id}/reset-fingerprint → 200. [DEV-FINGERPRINT-SECONDARY]
func (c *Client) ResetFingerprint(ctx context.Context, id string, in ResetFingerprint) (*ResetFingerprintResponse, error) {
	var out ResetFingerprintResponse
	err := c.do(ctx, call{op: "reset fingerprint", method: http.MethodPost, path: c.projectPath("devices", id, "reset-fingerprint"),
		in: in, want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// FreezeDevice freezes a device: POST …/devices/{id}/freeze → 200, no body. [DEV-FREEZE]
func (c *Client) FreezeDevice(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "freeze device", method: http.MethodPost, path: c.projectPath("devices", id, "freeze"),
		want: []int{http.StatusOK}})
}

// UnfreezeDevice unfreezes a device: POST …/devices/{id}/unfreeze → 200, no body.
func (c *Client) UnfreezeDevice(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "unfreeze device", method: http.MethodPost, path: c.projectPath("devices", id, "unfreeze"),
		want: []int{http.StatusOK}})
}

// CreateMessage sends a downstream message to a device: POST …/devices/{id}/messages → 201.
func (c *Client) CreateMessage(ctx context.Context, deviceID string, in DeviceMessage) (*CreateMessageResponse, error) {
	var out CreateMessageResponse
	err := c.do(ctx, call{op: "create message", method: http.MethodPost, path: c.projectPath("devices", deviceID, "messages"),
		in: in, want: []int{http.StatusCreated}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ShowDeviceShadow returns a device's shadow: GET …/devices/{id}/shadow → 200.
func (c *Client) ShowDeviceShadow(ctx context.Context, id string) (*ShowDeviceShadowResponse, error) {
	var out ShowDeviceShadowResponse
	err := c.do(ctx, call{op: "show device shadow", method: http.MethodGet, path: c.projectPath("devices", id, "shadow"),
		want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

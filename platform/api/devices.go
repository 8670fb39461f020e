package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// addDevice: POST /v5/iot/{project_id}/devices → 201 Device (with the secret,
// as IoTDA returns it on AddDevice only). node_id, device_id, fingerprint and
// protocol rules are the registry's. [DEV-NODEID] [DEV-ID] [DEV-FINGERPRINT] [PROTO-MQTT-ONLY]
func (s *server) addDevice(w http.ResponseWriter, req *request) error {
	var in iotda.AddDevice
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	switch {
	case in.NodeID == "":
		return errInvalid("node_id is required")
	case in.ProductID == "":
		return errInvalid("product_id is required")
	}
	if gw := deref(in.GatewayID); gw != "" && gw != deref(in.DeviceID) {
		return errInvalid("gateway_id: sub-devices are not supported by the reference platform")
	}
	nd := registry.NewDevice{
		DeviceID:      deref(in.DeviceID),
		NodeID:        in.NodeID,
		Name:          deref(in.DeviceName),
		ProductID:     in.ProductID,
		Description:   deref(in.Description),
		AppID:         deref(in.AppID),
		SecureAccess:  true, // IoTDA's default for auth_info.secure_access
		ExtensionInfo: in.ExtensionInfo,
	}
	if a := in.AuthInfo; a != nil {
		nd.AuthType = deref(a.AuthType)
		nd.Secret = deref(a.Secret)
		nd.Fingerprint = deref(a.Fingerprint)
		nd.SecondaryFingerprint = deref(a.SecondaryFingerprint)
		if a.SecureAccess != nil {
			nd.SecureAccess = *a.SecureAccess
		}
		if a.Timeout != nil {
			nd.Timeout = *a.Timeout
		}
	}
	d, err := s.reg.CreateDevice(req.Context(), req.project.ID, nd)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, deviceJSON(d, s.productName(req.project.ID, d.ProductID), true))
}

// listDevices: GET /v5/iot/{project_id}/devices?product_id&node_id&app_id&limit&marker&offset → 200.
func (s *server) listDevices(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	page, err := parsePage(q)
	if err != nil {
		return err
	}
	f := registry.DeviceFilter{ProductID: q.Get("product_id"), NodeID: q.Get("node_id"), AppID: q.Get("app_id")}
	ds, total, err := s.reg.ListDevices(req.project.ID, f, page)
	if err != nil {
		return pagingError(err)
	}
	out := iotda.ListDevicesResponse{Devices: make([]iotda.QueryDeviceSimplify, 0, len(ds)), Page: iotda.Page{Count: total}}
	names := map[string]string{}
	for _, d := range ds {
		name, ok := names[d.ProductID]
		if !ok {
			name = s.productName(req.project.ID, d.ProductID)
			names[d.ProductID] = name
		}
		out.Devices = append(out.Devices, deviceSimpleJSON(d, name))
	}
	if len(ds) > 0 {
		out.Page.Marker = deviceMarker(ds[len(ds)-1])
	}
	return writeJSON(w, http.StatusOK, out)
}

// showDevice: GET …/devices/{device_id} → 200 Device (no secret).
func (s *server) showDevice(w http.ResponseWriter, req *request) error {
	d, err := s.reg.Device(req.project.ID, req.PathValue("device_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deviceJSON(d, s.productName(req.project.ID, d.ProductID), false))
}

// updateDevice: PUT …/devices/{device_id} with {device_name?, description?, extension_info?} → 200 Device.
func (s *server) updateDevice(w http.ResponseWriter, req *request) error {
	var in iotda.UpdateDevice
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	var ext []byte
	if len(in.ExtensionInfo) > 0 && !bytes.Equal(in.ExtensionInfo, []byte("null")) {
		ext = in.ExtensionInfo
	}
	d, err := s.reg.UpdateDevice(req.Context(), req.project.ID, req.PathValue("device_id"), in.DeviceName, in.Description, ext)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deviceJSON(d, s.productName(req.project.ID, d.ProductID), false))
}

// deleteDevice: DELETE …/devices/{device_id} → 204.
func (s *server) deleteDevice(w http.ResponseWriter, req *request) error {
	if err := s.reg.DeleteDevice(req.Context(), req.project.ID, req.PathValue("device_id")); err != nil {
		return err
	}
	return writeEmpty(w, http.StatusNoContent)
}

// resetFingerprint: POST …/devices/{device_id}/reset-fingerprint with
// {fingerprint?, force_disconnect?, fingerprint_type? PRIMARY|SECONDARY} → 200.
// An absent fingerprint clears it (the next login binds one). [DEV-FINGERPRINT-SECONDARY] [DEV-FINGERPRINT-BIND]
func (s *server) resetFingerprint(w http.ResponseWriter, req *request) error {
	var in iotda.ResetFingerprint
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	ft := deref(in.FingerprintType)
	switch ft {
	case "":
		ft = iotda.FingerprintPrimary
	case iotda.FingerprintPrimary, iotda.FingerprintSecondary:
	default:
		return errInvalid("fingerprint_type must be PRIMARY or SECONDARY, got " + quote(ft))
	}
	force := in.ForceDisconnect != nil && *in.ForceDisconnect
	d, err := s.reg.ResetFingerprint(req.Context(), req.project.ID, req.PathValue("device_id"), ft, deref(in.Fingerprint), force)
	if err != nil {
		return err
	}
	out := iotda.ResetFingerprintResponse{DeviceID: d.ID, Fingerprint: d.Fingerprint, FingerprintType: ft}
	if ft == iotda.FingerprintSecondary {
		out.Fingerprint = d.SecondaryFingerprint
	}
	return writeJSON(w, http.StatusOK, out)
}

// freezeDevice: POST …/devices/{device_id}/freeze → 200, empty body. [DEV-FREEZE]
func (s *server) freezeDevice(w http.ResponseWriter, req *request) error {
	return s.setFrozen(w, req, true)
}

// unfreezeDevice: POST …/devices/{device_id}/unfreeze → 200, empty body. [DEV-FREEZE]
func (s *server) unfreezeDevice(w http.ResponseWriter, req *request) error {
	return s.setFrozen(w, req, false)
}

func (s *server) setFrozen(w http.ResponseWriter, req *request, frozen bool) error {
	if _, err := s.reg.SetFrozen(req.Context(), req.project.ID, req.PathValue("device_id"), frozen); err != nil {
		return err
	}
	return writeEmpty(w, http.StatusOK)
}

// messageIn is iotda.DeviceMessage with message kept raw, to tell a JSON
// string (sent as its value) from any other JSON value (sent as its encoding).
type messageIn struct {
	MessageID *string         `json:"message_id"`
	Name      *string         `json:"name"`
	Message   json.RawMessage `json:"message"`
	Topic     *string         `json:"topic"`
}

// createMessage: POST …/devices/{device_id}/messages → 201 CreateMessageResponse.
//
// IoTDA queues a message for an offline device and answers 201 PENDING. The
// reference platform has no queue: it delivers to the live session at once
// (status DELIVERED) or answers 409 IOTDA.014016 "device not online", so a
// test learns immediately whether the device got it.
func (s *server) createMessage(w http.ResponseWriter, req *request) error {
	var in messageIn
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	if len(in.Message) == 0 || bytes.Equal(in.Message, []byte("null")) {
		return errInvalid("message is required")
	}
	var payload []byte
	if in.Message[0] == '"' {
		var str string
		if err := json.Unmarshal(in.Message, &str); err != nil {
			return errBadFormat("message: " + err.Error())
		}
		payload = []byte(str)
	} else {
		var buf bytes.Buffer
		if err := json.Compact(&buf, in.Message); err != nil {
			return errBadFormat("message: " + err.Error())
		}
		payload = buf.Bytes()
	}

	deviceID := req.PathValue("device_id")
	if _, err := s.reg.Device(req.project.ID, deviceID); err != nil {
		return err
	}
	topic := iotda.DeviceTopic(deviceID, iotda.TopicMessagesDown)
	if t := deref(in.Topic); t != "" {
		// [ACL-OWN-TOPICS] the device can subscribe only under its own prefix.
		if !iotda.IsOwnTopic(deviceID, t) {
			return errInvalid(fmt.Sprintf("topic must be a topic name under %s, got %q", iotda.TopicPrefix(deviceID), t))
		}
		topic = t
	}
	msgID := deref(in.MessageID)
	if msgID == "" {
		msgID = newUUID()
	}

	if s.cfg.Devices == nil {
		return fmt.Errorf("send message to %s: no MQTT broker attached: %w", deviceID, iotda.ErrDeviceOffline)
	}
	ctx, cancel := context.WithTimeout(req.Context(), s.cfg.SendTimeout)
	defer cancel()
	if err := s.cfg.Devices.SendDown(ctx, deviceID, topic, payload); err != nil {
		return fmt.Errorf("send message to %s: %w", deviceID, err)
	}
	var out iotda.CreateMessageResponse
	out.MessageID = msgID
	out.Result.Status = "DELIVERED"
	out.Result.CreatedTime = compact(s.cfg.Now())
	return writeJSON(w, http.StatusCreated, out)
}

// showShadow: GET …/devices/{device_id}/shadow → 200 ShowDeviceShadowResponse.
func (s *server) showShadow(w http.ResponseWriter, req *request) error {
	d, err := s.reg.Device(req.project.ID, req.PathValue("device_id"))
	if err != nil {
		return err
	}
	out := iotda.ShowDeviceShadowResponse{DeviceID: d.ID, Shadow: []iotda.DeviceShadowData{}}
	if s.cfg.Devices != nil {
		if sh := s.cfg.Devices.Shadow(d.ID); sh != nil {
			out.Shadow = sh
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// productName is the name of a device's product, "" if it cannot be read.
func (s *server) productName(projectID, productID string) string {
	p, err := s.reg.Product(projectID, productID)
	if err != nil {
		return ""
	}
	return p.Name
}

// newUUID returns a random (version 4) UUID string.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

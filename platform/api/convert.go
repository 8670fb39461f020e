package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// Paging bounds (docs/iotda.md §3).
const (
	defaultLimit = 10
	maxLimit     = 50
	maxOffset    = 500
)

// parsePage reads limit (1..50, default 10), marker (opaque) and offset
// (0..500, default 0). [CA-LIST]
func parsePage(q url.Values) (registry.Page, error) {
	p := registry.Page{Limit: defaultLimit, Marker: q.Get("marker")}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxLimit {
			return p, &apiError{status: http.StatusBadRequest, code: iotda.CodeLimitOutOfRange,
				msg: fmt.Sprintf("Invalid input data: limit must be an integer from 1 to %d, got %q", maxLimit, q.Get("limit"))}
		}
		p.Limit = n
	}
	if q.Has("offset") {
		n, err := strconv.Atoi(q.Get("offset"))
		if err != nil || n < 0 || n > maxOffset {
			return p, &apiError{status: http.StatusBadRequest, code: iotda.CodeMarkerOutOfRange,
				msg: fmt.Sprintf("Invalid input data: offset must be an integer from 0 to %d, got %q", maxOffset, q.Get("offset"))}
		}
		p.Offset = n
	}
	return p, nil
}

// pagingError reports a list call's invalid input (a marker the registry
// cannot read) as IOTDA.000018, marker out of range.
func pagingError(err error) error {
	if errors.Is(err, registry.ErrInvalidInput) {
		return &apiError{status: http.StatusBadRequest, code: iotda.CodeMarkerOutOfRange,
			msg: withDetail("Invalid input data", err, registry.ErrInvalidInput)}
	}
	return err
}

// compact formats t in iotda.CompactTime (UTC); "" for the zero time.
func compact(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(iotda.CompactTime)
}

// millis formats t in iotda.MillisTime (UTC); "" for the zero time.
func millis(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(iotda.MillisTime)
}

// caJSON is a CA as the API shows it; full adds name and content (ShowCertificate).
func caJSON(ca registry.CA, full bool) iotda.CACert {
	out := iotda.CACert{
		CertificateID: ca.ID,
		CnName:        ca.CNName,
		Owner:         ca.Owner,
		Status:        ca.Verified,
		VerifyCode:    ca.VerifyCode,
		CreateDate:    compact(ca.CreatedAt),
	}
	if ca.Cert != nil {
		out.EffectiveDate = compact(ca.Cert.NotBefore)
		out.ExpiryDate = compact(ca.Cert.NotAfter)
	}
	if full {
		out.Name = ca.CNName
		out.Content = ca.PEM
	}
	return out
}

// productJSON is a product as the API shows it.
func productJSON(p registry.Product) iotda.Product {
	caps := p.ServiceCapabilities
	if len(caps) == 0 {
		caps = json.RawMessage("[]")
	}
	return iotda.Product{
		AppID:               p.AppID,
		AppName:             p.AppID,
		ProductID:           p.ID,
		Name:                p.Name,
		DeviceType:          p.DeviceType,
		ProtocolType:        p.ProtocolType,
		DataFormat:          p.DataFormat,
		ManufacturerName:    p.ManufacturerName,
		Industry:            p.Industry,
		Description:         p.Description,
		ServiceCapabilities: caps,
		CreateTime:          compact(p.CreatedAt),
	}
}

// deviceStatus is the wire status: FROZEN when frozen, else the registry's. [DEV-FREEZE] [DEV-STATUS]
func deviceStatus(d registry.Device) string {
	if d.Frozen {
		return iotda.StatusFrozen
	}
	return d.Status
}

// nodeType is GATEWAY for a directly connected device ("直连设备或网关", §7.2), else ENDPOINT.
func nodeType(d registry.Device) string {
	if d.GatewayID == "" || d.GatewayID == d.ID {
		return "GATEWAY"
	}
	return "ENDPOINT"
}

// deviceJSON is a device as AddDevice and ShowDevice return it. The secret
// is shown only when withSecret (the AddDevice response, as IoTDA does).
func deviceJSON(d registry.Device, productName string, withSecret bool) iotda.Device {
	gw := d.GatewayID
	if gw == "" {
		gw = d.ID
	}
	out := iotda.Device{
		AppID:       d.AppID,
		AppName:     d.AppID,
		DeviceID:    d.ID,
		NodeID:      d.NodeID,
		GatewayID:   gw,
		DeviceName:  d.Name,
		NodeType:    nodeType(d),
		Description: d.Description,
		AuthInfo: iotda.AuthInfoRes{
			AuthType:             d.AuthType,
			Fingerprint:          d.Fingerprint,
			SecondaryFingerprint: d.SecondaryFingerprint,
			SecureAccess:         d.SecureAccess,
			Timeout:              d.Timeout,
		},
		ProductID:                  d.ProductID,
		ProductName:                productName,
		Status:                     deviceStatus(d),
		CreateTime:                 compact(d.CreatedAt),
		ConnectionStatusUpdateTime: millis(d.StatusUpdateTime),
		ActiveTime:                 millis(d.ActiveTime),
		Tags:                       []any{},
		ExtensionInfo:              d.ExtensionInfo,
	}
	if withSecret {
		out.AuthInfo.Secret = d.Secret
	}
	return out
}

// deviceSimpleJSON is one item of ListDevices: the fields of deviceJSON
// that QueryDeviceSimplify has.
func deviceSimpleJSON(d registry.Device, productName string) iotda.QueryDeviceSimplify {
	full := deviceJSON(d, productName, false)
	return iotda.QueryDeviceSimplify{
		AppID:       full.AppID,
		AppName:     full.AppName,
		DeviceID:    full.DeviceID,
		NodeID:      full.NodeID,
		GatewayID:   full.GatewayID,
		DeviceName:  full.DeviceName,
		NodeType:    full.NodeType,
		Description: full.Description,
		ProductID:   full.ProductID,
		ProductName: full.ProductName,
		Status:      full.Status,
		Tags:        full.Tags,
	}
}

// deviceMarker is a device's paging marker: its creation sequence as 24 hex digits.
func deviceMarker(d registry.Device) string { return fmt.Sprintf("%024x", d.Seq) }

// Package iotda is the IoTDA v5 wire contract shared by every part of certlab:
// request and response bodies with the JSON names of Huawei's own SDK
// (huaweicloud-sdk-go-v3 services/iotda/v5/model), the error body and codes,
// the SDK-HMAC-SHA256 and V11-HMAC-SHA256 request signers, and a small typed
// client. The platform uses it on the server side; the BDD steps, the fleet
// simulator and the load generator use it on the client side, so the wire
// format has exactly one definition.
//
// Field facts and their sources are in docs/iotda.md (§4, §6, §7, §10).
package iotda

import "encoding/json"

// Timestamp layouts used on the wire (docs/iotda.md §3).
const (
	// CompactTime is used by create_date, effective_date, expiry_date and create_time.
	CompactTime = "20060102T150405Z"
	// MillisTime is used by connection_status_update_time and active_time.
	MillisTime = "2006-01-02T15:04:05.000Z"
)

// Auth types of a device (auth_info.auth_type).
const (
	AuthSecret       = "SECRET"
	AuthCertificates = "CERTIFICATES"
)

// Device statuses (ShowDevice status).
const (
	StatusOnline   = "ONLINE"
	StatusOffline  = "OFFLINE"
	StatusAbnormal = "ABNORMAL"
	StatusInactive = "INACTIVE"
	StatusFrozen   = "FROZEN"
)

// Fingerprint types for reset-fingerprint.
const (
	FingerprintPrimary   = "PRIMARY"
	FingerprintSecondary = "SECONDARY"
)

// ProtocolMQTT is the only protocol_type whose devices may use X.509 certificates.
const ProtocolMQTT = "MQTT"

// ProtocolTypes lists every protocol_type IoTDA accepts for a product (SDK v0.1.207 AddProduct).
var ProtocolTypes = []string{"MQTT", "CoAP", "HTTP", "HTTPS", "Modbus", "ONVIF", "OPC-UA", "OPC-DA", "Other", "TCP", "UDP"}

// ---- Device CA certificates (§4) ----

// CreateCertificateDto is the body of AddCertificate (POST /v5/iot/{project_id}/certificates).
type CreateCertificateDto struct {
	Content string  `json:"content"`
	AppID   *string `json:"app_id,omitempty"`
}

// VerifyCertificateDto is the body of CheckCertificate (…/{certificate_id}/action?action_id=verify).
type VerifyCertificateDto struct {
	VerifyContent string `json:"verify_content"`
}

// CACert is a device CA certificate as the API shows it (CertificatesRspDto,
// also the AddCertificate response body). Name and Content are set by
// ShowCertificate only.
type CACert struct {
	CertificateID   string  `json:"certificate_id"`
	CnName          string  `json:"cn_name"`
	Owner           string  `json:"owner"`
	Status          bool    `json:"status"`
	VerifyCode      string  `json:"verify_code"`
	ProvisionEnable bool    `json:"provision_enable"`
	TemplateID      *string `json:"template_id,omitempty"`
	OcspEnable      bool    `json:"ocsp_enable"`
	OcspServerCaID  *string `json:"ocsp_server_ca_id,omitempty"`
	OcspSslEnable   bool    `json:"ocsp_ssl_enable"`
	CreateDate      string  `json:"create_date"`
	EffectiveDate   string  `json:"effective_date"`
	ExpiryDate      string  `json:"expiry_date"`
	Name            string  `json:"name,omitempty"`
	Content         string  `json:"content,omitempty"`
}

// Page is the paging block of every list response.
type Page struct {
	Count  int64  `json:"count"`
	Marker string `json:"marker"`
}

// ListCertificatesResponse is the body of ListCertificates.
type ListCertificatesResponse struct {
	Certificates []CACert `json:"certificates"`
	Page         Page     `json:"page"`
}

// ---- Products (§6) ----

// AddProduct is the body of CreateProduct (POST /v5/iot/{project_id}/products).
type AddProduct struct {
	ProductID           *string         `json:"product_id,omitempty"`
	Name                string          `json:"name"`
	DeviceType          string          `json:"device_type"`
	ProtocolType        string          `json:"protocol_type"`
	DataFormat          string          `json:"data_format"`
	ServiceCapabilities json.RawMessage `json:"service_capabilities"`
	ManufacturerName    *string         `json:"manufacturer_name,omitempty"`
	Industry            *string         `json:"industry,omitempty"`
	Description         *string         `json:"description,omitempty"`
	AppID               *string         `json:"app_id,omitempty"`
}

// Product is a product as the API shows it (CreateProduct/ShowProduct response).
type Product struct {
	AppID               string          `json:"app_id"`
	AppName             string          `json:"app_name"`
	ProductID           string          `json:"product_id"`
	Name                string          `json:"name"`
	DeviceType          string          `json:"device_type"`
	ProtocolType        string          `json:"protocol_type"`
	DataFormat          string          `json:"data_format"`
	ManufacturerName    string          `json:"manufacturer_name"`
	Industry            string          `json:"industry"`
	Description         string          `json:"description"`
	ServiceCapabilities json.RawMessage `json:"service_capabilities"`
	CreateTime          string          `json:"create_time"`
}

// ListProductsResponse is the body of ListProducts.
type ListProductsResponse struct {
	Products []Product `json:"products"`
	Page     Page      `json:"page"`
}

// ---- Devices (§7) ----

// AuthInfo is auth_info in an AddDevice request. SecondaryFingerprint is not in
// SDK v0.1.207's request struct; it is accepted for forward compatibility.
type AuthInfo struct {
	AuthType             *string `json:"auth_type,omitempty"`
	Secret               *string `json:"secret,omitempty"`
	Fingerprint          *string `json:"fingerprint,omitempty"`
	SecondaryFingerprint *string `json:"secondary_fingerprint,omitempty"`
	SecureAccess         *bool   `json:"secure_access,omitempty"`
	Timeout              *int32  `json:"timeout,omitempty"`
}

// AuthInfoRes is auth_info in a device response.
type AuthInfoRes struct {
	AuthType             string `json:"auth_type"`
	Secret               string `json:"secret,omitempty"`
	SecondarySecret      string `json:"secondary_secret,omitempty"`
	Fingerprint          string `json:"fingerprint,omitempty"`
	SecondaryFingerprint string `json:"secondary_fingerprint,omitempty"`
	SecureAccess         bool   `json:"secure_access"`
	Timeout              int32  `json:"timeout"`
}

// AddDevice is the body of AddDevice (POST /v5/iot/{project_id}/devices).
type AddDevice struct {
	DeviceID      *string         `json:"device_id,omitempty"`
	NodeID        string          `json:"node_id"`
	DeviceName    *string         `json:"device_name,omitempty"`
	ProductID     string          `json:"product_id"`
	AuthInfo      *AuthInfo       `json:"auth_info,omitempty"`
	Description   *string         `json:"description,omitempty"`
	GatewayID     *string         `json:"gateway_id,omitempty"`
	AppID         *string         `json:"app_id,omitempty"`
	ExtensionInfo json.RawMessage `json:"extension_info,omitempty"`
}

// Device is a device as AddDevice and ShowDevice return it.
type Device struct {
	AppID                      string          `json:"app_id"`
	AppName                    string          `json:"app_name"`
	DeviceID                   string          `json:"device_id"`
	NodeID                     string          `json:"node_id"`
	GatewayID                  string          `json:"gateway_id"`
	DeviceName                 string          `json:"device_name"`
	NodeType                   string          `json:"node_type"`
	Description                string          `json:"description"`
	FwVersion                  string          `json:"fw_version"`
	SwVersion                  string          `json:"sw_version"`
	DeviceSdkVersion           string          `json:"device_sdk_version"`
	AuthInfo                   AuthInfoRes     `json:"auth_info"`
	ProductID                  string          `json:"product_id"`
	ProductName                string          `json:"product_name"`
	Status                     string          `json:"status"`
	CreateTime                 string          `json:"create_time"`
	ConnectionStatusUpdateTime string          `json:"connection_status_update_time,omitempty"`
	ActiveTime                 string          `json:"active_time,omitempty"`
	Tags                       []any           `json:"tags"`
	ExtensionInfo              json.RawMessage `json:"extension_info,omitempty"`
}

// QueryDeviceSimplify is one item of ListDevices.
type QueryDeviceSimplify struct {
	AppID       string `json:"app_id"`
	AppName     string `json:"app_name"`
	DeviceID    string `json:"device_id"`
	NodeID      string `json:"node_id"`
	GatewayID   string `json:"gateway_id"`
	DeviceName  string `json:"device_name"`
	NodeType    string `json:"node_type"`
	Description string `json:"description"`
	ProductID   string `json:"product_id"`
	ProductName string `json:"product_name"`
	Status      string `json:"status"`
	Tags        []any  `json:"tags"`
}

// ListDevicesResponse is the body of ListDevices.
type ListDevicesResponse struct {
	Devices []QueryDeviceSimplify `json:"devices"`
	Page    Page                  `json:"page"`
}

// UpdateDevice is the body of UpdateDevice (PUT …/devices/{device_id}).
type UpdateDevice struct {
	DeviceName    *string         `json:"device_name,omitempty"`
	Description   *string         `json:"description,omitempty"`
	ExtensionInfo json.RawMessage `json:"extension_info,omitempty"`
}

// ResetFingerprint is the body of ResetFingerprint (POST …/devices/{device_id}/reset-fingerprint).
type ResetFingerprint struct {
	Fingerprint     *string `json:"fingerprint,omitempty"`
	ForceDisconnect *bool   `json:"force_disconnect,omitempty"`
	FingerprintType *string `json:"fingerprint_type,omitempty"`
}

// ResetFingerprintResponse is the response of ResetFingerprint.
type ResetFingerprintResponse struct {
	DeviceID        string `json:"device_id"`
	Fingerprint     string `json:"fingerprint"`
	FingerprintType string `json:"fingerprint_type"`
}

// DeviceMessage is the body of CreateMessage (POST …/devices/{device_id}/messages).
type DeviceMessage struct {
	MessageID *string `json:"message_id,omitempty"`
	Name      *string `json:"name,omitempty"`
	Message   any     `json:"message"`
	Topic     *string `json:"topic,omitempty"`
}

// CreateMessageResponse is the response of CreateMessage (201).
type CreateMessageResponse struct {
	MessageID string `json:"message_id"`
	Result    struct {
		Status      string `json:"status"`
		CreatedTime string `json:"created_time"`
	} `json:"result"`
}

// ---- Errors (§3) ----

// ErrorBody is IoTDA's error response body.
type ErrorBody struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// Error codes. Codes tagged V-DOC are IoTDA's; the rest are certlab's choice
// where the documentation is silent (docs/iotda.md §11) and are stated in the README.
const (
	CodeUnauthorized     = "IOTDA.000002" // 401: request authentication failed (V-DOC)
	CodeInvalidToken     = "IOTDA.000004" // 403: invalid access token (V-DOC)
	CodeInvalidInput     = "IOTDA.000006" // 400: invalid input data (V-DOC)
	CodeBadRequestFormat = "IOTDA.000008" // 400: malformed JSON or media type (V-DOC)
	CodeLimitOutOfRange  = "IOTDA.000017" // 400: limit out of range (V-DOC)
	CodeMarkerOutOfRange = "IOTDA.000018" // 400: marker or offset out of range (V-DOC)
	CodeForbidden        = "IOTDA.000022" // 403: no permission for this project (V-DOC)
	CodeNotFound         = "IOTDA.014000" // 404: resource not found (R)
	CodeDeviceExists     = "IOTDA.014031" // 400: device already exists (V-DOC)
	CodeInvalidCert      = "IOTDA.014301" // 400: certificate content invalid (V-DOC)
	CodeCAQuota          = "IOTDA.014302" // 400: CA quota (100) reached (code not documented; certlab's choice)
	CodeCAExists         = "IOTDA.014303" // 400: the same CA is already uploaded (certlab's choice)
	CodeVerifyFailed     = "IOTDA.014307" // 400: verification certificate refused (V-DOC)
	CodeProductInUse     = "IOTDA.014308" // 400: product still has devices (certlab's choice)
	CodeNotMQTTProduct   = "IOTDA.014309" // 400: CERTIFICATES device under a non-MQTT product (certlab's choice)
	CodeProductExists    = "IOTDA.014310" // 400: product_id already exists (certlab's choice)
	CodeDeviceNotOnline  = "IOTDA.014016" // 409-ish: device not online (V-SDK)
	CodeInternal         = "IOTDA.000500" // 500: internal error (certlab's choice)
	CodeStorageLost      = "IOTDA.000503" // 503: the registry's storage was removed or replaced; writes refused until restart (certlab's choice)
	CodeStorageFull      = "IOTDA.000507" // 507: the registry could not be written: disk full (certlab's choice)
	CodePayloadTooLarge  = "IOTDA.000013" // 413: request body over 1 MiB (certlab's choice)
	CodeMethodNotAllowed = "IOTDA.000014" // 405 (certlab's choice)
)

// ---- Device-side payloads (docs/iotda.md §8.5) ----

// PropertiesReport is the payload a device publishes on
// $oc/devices/{device_id}/sys/properties/report.
type PropertiesReport struct {
	Services []ServiceProperties `json:"services"`
}

// ServiceProperties is one service of a PropertiesReport.
type ServiceProperties struct {
	ServiceID  string         `json:"service_id"`
	Properties map[string]any `json:"properties"`
	EventTime  string         `json:"event_time,omitempty"` // CompactTime, UTC
}

// ---- Device shadow (ShowDeviceShadow: GET …/devices/{device_id}/shadow) ----

// ShowDeviceShadowResponse is the body of ShowDeviceShadow. The reference
// platform fills reported properties from the device's latest
// $oc/devices/{device_id}/sys/properties/report.
type ShowDeviceShadowResponse struct {
	DeviceID string             `json:"device_id"`
	Shadow   []DeviceShadowData `json:"shadow"`
}

// DeviceShadowData is one service of a device shadow.
type DeviceShadowData struct {
	ServiceID string                  `json:"service_id"`
	Desired   *DeviceShadowProperties `json:"desired,omitempty"`
	Reported  *DeviceShadowProperties `json:"reported,omitempty"`
	Version   int64                   `json:"version"`
}

// DeviceShadowProperties holds properties and when they were last changed.
type DeviceShadowProperties struct {
	Properties map[string]any `json:"properties"`
	EventTime  string         `json:"event_time,omitempty"`
}

// ---- certlab admin (not IoTDA): projects ----

// AddProjectRequest is the body of POST /certlab/v1/projects (admin token required).
type AddProjectRequest struct {
	Name string `json:"name"`
}

// ProjectCredentials describes a project and its API credentials.
type ProjectCredentials struct {
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	Token     string `json:"token"`
}

package iotda

// Credentials are what a client authenticates with. Exactly one of AK/SK or
// Token is used: AK/SK when AccessKey is set, else Token (sent as X-Auth-Token).
type Credentials struct {
	AccessKey string
	SecretKey string
	Token     string
	ProjectID string
	Region    string // for V11 derived signing; "" = "local"
	// Derived selects V11-HMAC-SHA256 (service "iotdm") instead of SDK-HMAC-SHA256.
	Derived bool
}

// SecretLookup returns the secret key for an access key, and whether it exists.
type SecretLookup func(accessKey string) (secretKey string, ok bool)

// Header names and fixed values of IoTDA request authentication
// (docs/iotda.md §1, §2).
const (
	HeaderAuthorization = "Authorization"
	HeaderSdkDate       = "X-Sdk-Date"
	HeaderContentSHA256 = "X-Sdk-Content-Sha256"
	HeaderProjectID     = "X-Project-Id"
	HeaderAuthToken     = "X-Auth-Token"
	HeaderRequestID     = "X-Request-Id"
	// HeaderAdminToken carries the certlab admin token (POST /certlab/v1/projects).
	HeaderAdminToken = "X-Certlab-Admin-Token"

	// AlgorithmSDK is the standard AK/SK signer of Huawei's SDKs and APIG.
	AlgorithmSDK = "SDK-HMAC-SHA256"
	// AlgorithmV11 is the derived-key signer used on instance endpoints.
	AlgorithmV11 = "V11-HMAC-SHA256"
	// DerivedService is the service name IoTDA's SDK client derives keys for.
	DerivedService = "iotdm"
	// DefaultRegion is the V11 region used when Credentials.Region is empty.
	DefaultRegion = "local"
	// UnsignedPayload replaces the body hash when the body is not JSON/BSON.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
)

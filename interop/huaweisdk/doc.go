// Package huaweisdk checks the reference platform against Huawei's official
// IoTDA Go SDK (github.com/huaweicloud/huaweicloud-sdk-go-v3, services/iotda/v5).
//
// It is a separate module so that the SDK and its dependencies never enter
// certlab's own go.mod. The tests start the real platform in-process and drive
// the documented certificate-authentication procedure through the SDK only:
// upload a device CA, prove possession, create products and a certificate
// device, reset its secondary fingerprint, freeze and unfreeze it, log it in
// over MQTTS and delete everything again, once with SDK-HMAC-SHA256 and once
// with derived V11-HMAC-SHA256 request signing.
//
// Run it with `make interop` or `cd interop/huaweisdk && go test ./...`.
package huaweisdk

//go:build !race

package platform_test

// raceBuild: see race_on_test.go.
const raceBuild = false

//go:build race

package platform_test

// raceBuild: the tests run under the race detector, which makes every large
// allocation of the platform (a 120 KB CONNECT, a 1 MiB PUBLISH) tens of
// times slower and adds shadow memory to its RSS.
const raceBuild = true

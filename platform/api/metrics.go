package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/platform/registry"
)

// Metric namespace and subsystem.
const (
	metricsNamespace = "certlab"
	metricsSubsystem = "platform"
)

// metrics are the API's Prometheus metrics. Labels are closed sets: route is
// a registered mux pattern's path (or "unmatched"), method one of the
// standard methods (or "OTHER"), code an HTTP status.
type metrics struct {
	requests *prometheus.CounterVec   // certlab_platform_api_requests_total{route,method,code}
	duration *prometheus.HistogramVec // certlab_platform_api_request_duration_seconds{route}
}

// newMetrics builds the metrics and, when reg is not nil, registers them and
// a collector of registry sizes.
func newMetrics(reg prometheus.Registerer, r Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name: "api_requests_total",
			Help: "REST API requests by route pattern, method and HTTP status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem,
			Name:    "api_request_duration_seconds",
			Help:    "REST API request handling time by route pattern, from the first byte of the handler to the last.",
			Buckets: prometheus.ExponentialBucketsRange(0.0001, 10, 16),
		}, []string{"route"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, newRegistryCollector(r)} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one finished request.
func (m *metrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// methodLabel bounds the method label: clients choose methods freely.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodHead, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// registryCollector exposes registry sizes as gauges and the health of its
// storage, read at scrape time.
type registryCollector struct {
	reg                                           Registry
	projects, cas, verifiedCAs, products, devices *prometheus.Desc
	storageOK, writeFailures                      *prometheus.Desc
}

func newRegistryCollector(r Registry) *registryCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name), help, nil, nil)
	}
	return &registryCollector{
		reg:         r,
		projects:    desc("registry_projects", "Projects (tenants) in the registry."),
		cas:         desc("registry_cas", "Device CA certificates in the registry, verified or not."),
		verifiedCAs: desc("registry_verified_cas", "Verified device CA certificates in the registry."),
		products:    desc("registry_products", "Products in the registry."),
		devices:     desc("registry_devices", "Devices in the registry."),
		storageOK: desc("registry_storage_ok",
			"1 while the registry's database file is the one it opened and can be examined; 0 once it was removed or replaced (writes are refused until restart)."),
		writeFailures: prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "registry_write_failures_total"),
			"Registry writes that failed for a storage cause: storage_lost (database file removed or replaced), disk_full, io_error.",
			[]string{"cause"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *registryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.projects
	ch <- c.cas
	ch <- c.verifiedCAs
	ch <- c.products
	ch <- c.devices
	ch <- c.storageOK
	ch <- c.writeFailures
}

// Collect implements prometheus.Collector.
func (c *registryCollector) Collect(ch chan<- prometheus.Metric) {
	projects, cas, verified, products, devices := c.reg.Counts()
	for _, g := range []struct {
		d *prometheus.Desc
		v int
	}{{c.projects, projects}, {c.cas, cas}, {c.verifiedCAs, verified}, {c.products, products}, {c.devices, devices}} {
		ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, float64(g.v))
	}
	ok := 1.0
	if c.reg.StorageErr() != nil {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(c.storageOK, prometheus.GaugeValue, ok)
	for _, cause := range registry.StorageFailureCauses {
		ch <- prometheus.MustNewConstMetric(c.writeFailures, prometheus.CounterValue, float64(c.reg.StorageFailures(cause)), cause)
	}
}

package result

// flood.go: the results of a handshake flood (loadgen's --flood). A flood run
// has three populations, kept apart in every record (Result.Population,
// Window.Population) and in the summary:
//
//	unflooded  the registered devices logging in before the flood starts:
//	           the reference (and, closed loop, the platform's capacity)
//	devices    the same devices logging in while the flood runs (the
//	           summary's ordinary server part)
//	flood      unauthenticated peers opening mutual-TLS handshakes with a
//	           certificate of an unknown CA or none, at a set rate
//
// The engine ends the results file with one "flood" record (FloodInfo): the
// flood's settings, the rate it ran at and the platform's own login counters
// against the generator's. The Aggregator turns it all into a FloodSummary.

import "github.com/certlab/certlab/iotda"

// Populations (Result.Population, Window.Population).
const (
	// PopulationDevices is the run's registered devices ("" in records);
	// in a flood run, while the flood runs.
	PopulationDevices = ""
	// PopulationUnflooded is a flood run's devices measured before the flood.
	PopulationUnflooded = "unflooded"
	// PopulationFlood is a flood's unauthenticated peers.
	PopulationFlood = "flood"
)

// Identities a flood's peers present (Result.Identity of the flood population).
const (
	// FloodUnknownCA: a certificate issued by a CA the platform does not
	// know; refused in the handshake with unknown_ca (alert bad certificate).
	FloodUnknownCA BadKind = "unknown_ca"
	// FloodNoCert: no certificate at all; refused in the handshake with
	// no_client_cert (alert certificate required).
	FloodNoCert BadKind = "no_cert"
)

// FloodInfo is a flood run's settings and what the engine measured itself:
// the "flood" record of a results file, written at the end.
type FloodInfo struct {
	Kind string `json:"kind"` // unknown-ca, no-cert or mixed
	// Multiple is the flood's rate as a multiple of the devices' unflooded
	// login rate (--flood 2x); 0 when an absolute rate was asked.
	Multiple float64 `json:"multiple,omitempty"`
	// Rate is the flood's schedule in attempts per second.
	Rate float64 `json:"rate"`
	// Capacity is the devices' login rate measured before the flood (closed
	// loop: the platform's login capacity).
	Capacity float64 `json:"capacity_logins_per_s"`
	Conns    int     `json:"conns"`     // flood handshakes in flight at most; one due beyond it is dropped
	TimeoutS float64 `json:"timeout_s"` // one flood handshake's deadline
	MinKept  float64 `json:"min_kept"`  // the verdict: flooded / unflooded login rate at least this

	// ServerLogins compares the platform's login counters with the
	// generator's over the whole run (both phases, both populations), when
	// the target has a metrics endpoint.
	ServerLogins *FloodCounts `json:"server_logins,omitempty"`
	Note         string       `json:"note,omitempty"`
}

// Login categories of a flood run's counter comparison (FloodCounts).
const (
	CountSuccess   = "success"
	CountBusy      = string(iotda.ReasonServerBusy)
	CountNoCert    = string(iotda.ReasonNoClientCert)
	CountUnknownCA = string(iotda.ReasonUnknownCA)
	CountOther     = "other_refused"
	CountErrors    = "errors" // the generator's only: attempts without a server verdict
)

// FloodCategories lists the categories in display order.
var FloodCategories = []string{CountSuccess, CountBusy, CountNoCert, CountUnknownCA, CountOther, CountErrors}

// FloodCounts are login outcomes counted by the platform
// (certlab_platform_logins_total by reason) and by the generator (its
// results mapped onto the platform's reasons: CountOf) over the same run.
type FloodCounts struct {
	Source    string           `json:"source"` // the metrics endpoint read
	Platform  map[string]int64 `json:"platform"`
	Generator map[string]int64 `json:"generator"`
}

// Agree reports whether the platform counted exactly what the generator
// saw, category by category. Attempts that ended in errors on the
// generator's side (no verdict seen) are left out: the platform counts
// them as it saw them, if at all; Agree then holds the rest within them.
func (c *FloodCounts) Agree() bool {
	slack := c.Generator[CountErrors]
	var diff int64
	for _, k := range FloodCategories[:len(FloodCategories)-1] {
		d := c.Platform[k] - c.Generator[k]
		if d < 0 {
			d = -d
		}
		diff += d
	}
	return diff <= slack
}

// CountOf maps one attempt onto the platform's login categories.
func CountOf(r *Result) string {
	switch r.Outcome {
	case OutcomeSuccess:
		return CountSuccess
	case OutcomeRefused:
		switch {
		case r.Reason == ReasonClosedBeforeTLS:
			return CountBusy
		case r.Phase == PhaseConnect && (r.ConnackCode == 0x03 || r.ConnackCode == 0x89):
			return CountBusy // --max-clients
		case r.Population == PopulationFlood && r.Reason == AlertCertificateRequired:
			return CountNoCert
		case r.Population == PopulationFlood && (r.Reason == AlertBadCertificate || r.Reason == AlertUnknownCA):
			return CountUnknownCA
		}
		return CountOther
	case OutcomeDropped:
		return "" // never sent
	}
	return CountErrors
}

// The alerts a platform answers a flood with (loadgen's reasons).
const (
	AlertCertificateRequired = "tls_alert:certificate required" // TLS 1.3, no certificate
	AlertBadCertificate      = "tls_alert:bad certificate"      // a chain the platform refuses
	// AlertUnknownCA is crypto/tls's own answer to an unknown CA (a server
	// verifying with ClientCAs; certlab's platform decides the chain itself
	// and answers bad certificate).
	AlertUnknownCA = "tls_alert:unknown certificate authority"
)

// FloodSummary is a flood run: the devices before the flood (Unflooded),
// the flood itself, and how much of their login rate the devices kept
// under it (Summary.Servers holds the devices during the flood).
type FloodSummary struct {
	FloodInfo
	Unflooded *ServerSummary `json:"unflooded,omitempty"`
	Flood     *ServerSummary `json:"flood,omitempty"`
	// KeptShare is the devices' login rate during the flood over their
	// unflooded login rate; P99Ratio the same for the p99 of their login
	// latency (scheduled -> CONNACK).
	KeptShare float64 `json:"kept_share"`
	P99Ratio  float64 `json:"p99_ratio,omitempty"`
	// SentRate is the flood attempts sent per second (dropped ones are not
	// sent: the flood had Conns handshakes in flight already).
	SentRate float64 `json:"sent_rate"`
}

// floodSummary completes the flood part of a summary from its populations
// and the devices' part (devices).
func floodSummary(info *FloodInfo, unflooded, flood, devices *ServerSummary) *FloodSummary {
	fs := &FloodSummary{Unflooded: unflooded, Flood: flood}
	if info != nil {
		fs.FloodInfo = *info
	}
	if unflooded != nil && devices != nil && unflooded.SuccessRate > 0 {
		fs.KeptShare = devices.SuccessRate / unflooded.SuccessRate
		if u, d := unflooded.Latency[MetricTotal], devices.Latency[MetricTotal]; u.P99 > 0 && d.Count > 0 {
			fs.P99Ratio = float64(d.P99) / float64(u.P99)
		}
	}
	if flood != nil && flood.DurationS > 0 {
		fs.SentRate = float64(flood.Attempts-flood.Dropped) / flood.DurationS
	}
	return fs
}

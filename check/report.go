package check

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
)

// Status is the result of one check.
type Status string

// Check statuses.
const (
	StatusPass Status = "pass"
	StatusWarn Status = "warn" // works here, but a risk or a stricter platform's refusal
	StatusFail Status = "fail" // the login will be refused for Reason
	StatusSkip Status = "skip" // could not be checked (the message says why)
)

// Finding is the result of one check of the lint, or a problem the login revealed.
type Finding struct {
	Check   string       `json:"check"`
	Status  Status       `json:"status"`
	Message string       `json:"message"`
	Reason  iotda.Reason `json:"reason,omitempty"` // the login-refusal reason a failure causes
	Remedy  string       `json:"remedy,omitempty"`
}

func (f Finding) pass(msg string) Finding {
	f.Status, f.Message = StatusPass, msg
	return f
}

func (f Finding) warn(msg, remedy string) Finding {
	f.Status, f.Message, f.Remedy = StatusWarn, msg, remedy
	return f
}

func (f Finding) fail(reason iotda.Reason, msg, remedy string) Finding {
	f.Status, f.Reason, f.Message, f.Remedy = StatusFail, reason, msg, remedy
	return f
}

func (f Finding) skip(msg string) Finding {
	f.Status, f.Message = StatusSkip, msg
	return f
}

// Endpoints says which platform was checked.
type Endpoints struct {
	Name      string `json:"name,omitempty"`
	API       string `json:"api_endpoint"`
	MQTT      string `json:"mqtt_endpoint"`
	ProjectID string `json:"project_id"`
}

// Certificate summarises the device certificate.
type Certificate struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	SHA256             string    `json:"sha256"`
	SHA1               string    `json:"sha1"`
	KeyType            string    `json:"key_type"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	ExtKeyUsage        []string  `json:"ext_key_usage,omitempty"`
	Intermediates      int       `json:"intermediates"` // presented after the leaf
}

// Login is what the real login negotiated and how it ended, as the device saw it.
type Login struct {
	MQTTVersion  string        `json:"mqtt_version"` // "3.1.1" or "5"
	ClientID     string        `json:"client_id"`
	Username     string        `json:"username"`
	Outcome      iotda.Outcome `json:"outcome"`                 // success, refused or error (sim/device)
	Phase        string        `json:"phase,omitempty"`         // where it ended: tcp, tls, connect
	ClientReason string        `json:"client_reason,omitempty"` // sim/device's classification: tls_alert:…, connack:0x87, timeout…
	Alert        string        `json:"alert,omitempty"`         // TLS alert received
	ConnackCode  *int          `json:"connack_code,omitempty"`  // CONNACK refusal code
	ReasonString string        `json:"reason_string,omitempty"` // MQTT 5 CONNACK reason string
	TLSVersion   string        `json:"tls_version,omitempty"`
	CipherSuite  string        `json:"cipher_suite,omitempty"`
	DurationMs   float64       `json:"duration_ms"`
	Error        string        `json:"error,omitempty"`
}

// Report is the compatibility report of one device.
type Report struct {
	// Compatible is true when the device logged in (CONNACK 0x00).
	Compatible bool `json:"compatible"`
	// Inconclusive says why the check could not judge the device: the MQTT
	// endpoint could not be reached, or its server certificate is not
	// trusted. Such a report is neither compatible nor incompatible.
	Inconclusive string `json:"inconclusive,omitempty"`
	// Reason is "ok" or the refusal reason: the platform's when it recorded
	// the attempt, else the lint's, else inferred from the login (may be "").
	Reason      iotda.Reason `json:"reason"`
	Explanation string       `json:"explanation"`
	Remedy      string       `json:"remedy,omitempty"`

	Target      Endpoints   `json:"target"`
	DeviceID    string      `json:"device_id"`
	Device      DeviceMatch `json:"device"` // how the device was found
	CheckedAt   time.Time   `json:"checked_at"`
	Certificate Certificate `json:"certificate"`
	Checks      []Finding   `json:"checks"`
	Login       Login       `json:"login"`
	// Platform is the platform's own record of the login (reference platform only).
	Platform     *iotda.LoginAttempt `json:"platform_attempt,omitempty"`
	PlatformNote string              `json:"platform_note,omitempty"`
	// Problems are the failures and warnings, each with a remedy.
	Problems []Finding `json:"problems"`
}

// decide sets the verdict from the login, the platform's record and the lint.
func (r *Report) decide() {
	r.Problems = []Finding{}
	for _, f := range r.Checks {
		if f.Status == StatusFail || f.Status == StatusWarn {
			r.Problems = append(r.Problems, f)
		}
	}
	firstFail := func(match func(Finding) bool) *Finding {
		for i := range r.Checks {
			if r.Checks[i].Status == StatusFail && match(r.Checks[i]) {
				return &r.Checks[i]
			}
		}
		return nil
	}
	l := r.Login
	if why := unreachable(l); why != "" {
		r.Inconclusive, r.Explanation, r.Remedy = why, why, loginRemedy(l)
		r.Problems = append(r.Problems, Finding{Check: CheckLogin, Status: StatusFail, Message: why, Remedy: r.Remedy})
		return
	}
	if l.Outcome == iotda.OutcomeSuccess {
		r.Compatible, r.Reason = true, iotda.ReasonOK
		r.Explanation = fmt.Sprintf("logged in over MQTT %s with %s %s", l.MQTTVersion, l.TLSVersion, l.CipherSuite)
		if f := firstFail(func(Finding) bool { return true }); f != nil {
			r.Explanation += fmt.Sprintf("; the lint expected a refusal (%s: %s), which this platform does not enforce", f.Check, f.Reason)
		}
		return
	}
	switch {
	case r.Platform != nil && r.Platform.Outcome != iotda.OutcomeSuccess && r.Platform.Reason != "":
		r.Reason = r.Platform.Reason
		r.Explanation = fmt.Sprintf("the platform refused the login at the %s stage: %s", r.Platform.Stage, r.Platform.Reason)
		if r.Platform.Detail != "" {
			r.Explanation += ": " + r.Platform.Detail
		}
	case firstFail(func(f Finding) bool { return f.Reason != "" }) != nil:
		f := firstFail(func(f Finding) bool { return f.Reason != "" })
		r.Reason, r.Explanation = f.Reason, f.Message
	default:
		r.Reason, r.Explanation = inferFromLogin(l)
	}
	if f := firstFail(func(f Finding) bool { return f.Reason == r.Reason }); f != nil && r.Reason != "" {
		r.Remedy = f.Remedy
		return
	}
	r.Remedy = remedyFor(r.Reason)
	if r.Remedy == "" {
		r.Remedy = loginRemedy(l)
	}
	r.Problems = append(r.Problems, Finding{Check: CheckLogin, Status: StatusFail, Reason: r.Reason, Message: r.Explanation, Remedy: r.Remedy})
}

// unreachable says why a login never reached the platform's checks: the
// endpoint refused or dropped the TCP connection, or the client did not
// trust the server. "" when it did reach them.
func unreachable(l Login) string {
	if l.Outcome != iotda.OutcomeError {
		return ""
	}
	switch {
	case l.ClientReason == device.ReasonRefusedTCP, l.ClientReason == device.ReasonDial, l.ClientReason == device.ReasonNoPorts:
		return fmt.Sprintf("the MQTT endpoint could not be reached (%s): %s", l.ClientReason, l.Error)
	case l.Phase == string(device.PhaseTCP):
		return fmt.Sprintf("no TCP connection to the MQTT endpoint (%s): %s", l.ClientReason, l.Error)
	case l.ClientReason == device.ReasonServerCert:
		return fmt.Sprintf("the MQTT endpoint's server certificate is not trusted: %s", l.Error)
	}
	return ""
}

// inferFromLogin names the reason from what the device saw, when neither
// the platform nor the lint did: the refusal table maps CONNACK codes and
// TLS alerts back to reasons (ambiguous codes leave the reason empty).
func inferFromLogin(l Login) (iotda.Reason, string) {
	switch {
	case l.Outcome == iotda.OutcomeError:
		return "", fmt.Sprintf("the login did not complete (%s phase, %s): %s", l.Phase, l.ClientReason, l.Error)
	case l.ClientReason == device.ReasonClosedBeforeTLS:
		return iotda.ReasonServerBusy, "the platform closed the connection before the TLS handshake (a connection or handshake limit)"
	case l.ConnackCode != nil:
		var cands []string
		version, err := iotda.ParseMQTTVersion(l.MQTTVersion)
		if err != nil {
			version = iotda.MQTT311
		}
		for _, ref := range iotda.Refusals {
			code := ref.Code(version)
			if ref.Stage == iotda.StageConnect && int(code) == *l.ConnackCode {
				cands = append(cands, string(ref.Reason))
			}
		}
		slices.Sort(cands)
		msg := fmt.Sprintf("CONNACK 0x%02x", *l.ConnackCode)
		if l.ReasonString != "" {
			msg += " (" + l.ReasonString + ")"
		}
		if len(cands) == 1 {
			return iotda.Reason(cands[0]), msg
		}
		return "", msg + ": one of " + strings.Join(cands, ", ")
	case l.Alert != "":
		msg := fmt.Sprintf("TLS alert %q", l.Alert)
		switch l.Alert {
		case "certificate required":
			return iotda.ReasonNoClientCert, msg
		case "unknown certificate authority":
			return iotda.ReasonUnknownCA, msg
		case "certificate expired":
			return iotda.ReasonCertExpired, msg
		}
		return "", msg + ": the platform refused the certificate in the TLS handshake"
	}
	return "", fmt.Sprintf("refused in the %s phase (%s)", l.Phase, l.ClientReason)
}

// loginRemedy is the advice for a login that failed without a known reason.
func loginRemedy(l Login) string {
	switch l.ClientReason {
	case device.ReasonRefusedTCP, device.ReasonDial:
		return "check mqtt_endpoint in the target file and that the platform listens there"
	case device.ReasonServerCert:
		return "the platform's server certificate does not verify against the target's ca_file: fix ca_file or the endpoint's host name"
	case device.ReasonTimeout:
		return "the platform did not answer in time: check the endpoint, firewalls and the platform's load"
	}
	return "see the platform's logs for this login; the problems above list what the lint found"
}

// WriteJSON writes the report as indented JSON (for machines).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	verdict := "COMPATIBLE"
	switch {
	case r.Inconclusive != "":
		verdict = "NOT CHECKED"
	case !r.Compatible:
		verdict = "INCOMPATIBLE"
	}
	var b strings.Builder
	if r.Inconclusive != "" {
		fmt.Fprintf(&b, "certlab check: device %q could not be checked: %s", r.DeviceID, r.Inconclusive)
	} else {
		fmt.Fprintf(&b, "certlab check: device %q is %s", r.DeviceID, verdict)
	}
	if !r.Compatible && r.Reason != "" {
		fmt.Fprintf(&b, " (%s)", r.Reason)
	}
	b.WriteString("\n\n")

	c := r.Certificate
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s (api %s, mqtt %s, project %s)\n", r.Target.Name, r.Target.API, r.Target.MQTT, r.Target.ProjectID)
	fmt.Fprintf(tw, "device\t%s: %s\n", r.DeviceID, r.Device.Detail)
	fmt.Fprintf(tw, "certificate\t%s, issued by %s\n", c.Subject, c.Issuer)
	fmt.Fprintf(tw, "\t%s, %s, valid %s to %s\n", c.KeyType, c.SignatureAlgorithm, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	eku := "none"
	if len(c.ExtKeyUsage) > 0 {
		eku = strings.Join(c.ExtKeyUsage, ", ")
	}
	fmt.Fprintf(tw, "\textended key usage %s; %d intermediate(s) presented\n", eku, c.Intermediates)
	fmt.Fprintf(tw, "\tSHA-256 %s\n\tSHA-1   %s\n", c.SHA256, c.SHA1)
	_ = tw.Flush()

	b.WriteString("\nchecks\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, f := range r.Checks {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", statusLabel(f.Status), f.Check, f.Message)
		if f.Reason != "" {
			fmt.Fprintf(tw, "\t\t→ refused as %s\n", f.Reason)
		}
		if f.Remedy != "" && f.Status != StatusPass {
			fmt.Fprintf(tw, "\t\tremedy: %s\n", f.Remedy)
		}
	}
	_ = tw.Flush()

	l := r.Login
	fmt.Fprintf(&b, "\nlogin over MQTT %s as ClientId %s, username %s\n", l.MQTTVersion, l.ClientID, l.Username)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	outcome := string(l.Outcome)
	if l.Outcome != iotda.OutcomeSuccess {
		outcome += fmt.Sprintf(" in the %s phase: %s", l.Phase, l.ClientReason)
		if l.ReasonString != "" {
			outcome += " (" + l.ReasonString + ")"
		}
	}
	fmt.Fprintf(tw, "  outcome\t%s (%.1f ms)\n", outcome, l.DurationMs)
	if l.TLSVersion != "" {
		fmt.Fprintf(tw, "  TLS\t%s, %s\n", l.TLSVersion, l.CipherSuite)
	}
	if l.Error != "" && l.Outcome != iotda.OutcomeSuccess {
		fmt.Fprintf(tw, "  error\t%s\n", l.Error)
	}
	switch p := r.Platform; {
	case p != nil:
		fmt.Fprintf(tw, "  platform\t%s: %s (%s stage", p.Outcome, p.Reason, p.Stage)
		if p.ConnackCode != 0 {
			fmt.Fprintf(tw, ", CONNACK 0x%02x", p.ConnackCode)
		}
		fmt.Fprintf(tw, ")\n")
		if p.Detail != "" {
			fmt.Fprintf(tw, "\t%s\n", p.Detail)
		}
	case r.PlatformNote != "":
		fmt.Fprintf(tw, "  platform\t%s\n", r.PlatformNote)
	}
	_ = tw.Flush()

	fmt.Fprintf(&b, "\nverdict: %s", verdict)
	if r.Reason != "" && r.Reason != iotda.ReasonOK {
		fmt.Fprintf(&b, ", %s", r.Reason)
	}
	fmt.Fprintf(&b, "\n  %s\n", r.Explanation)
	if r.Remedy != "" && !r.Compatible {
		fmt.Fprintf(&b, "  remedy: %s\n", r.Remedy)
	}
	if r.Inconclusive != "" {
		b.WriteString("  the check could not run to a verdict: nothing is known yet about the device\n")
	}
	// Other problems: all of them beside the one the verdict already states.
	var others []Finding
	stated := false
	for _, f := range r.Problems {
		if f.Check == CheckLogin {
			continue
		}
		if !r.Compatible && !stated && f.Status == StatusFail && f.Reason == r.Reason {
			stated = true
			continue
		}
		others = append(others, f)
	}
	if len(others) > 0 {
		b.WriteString("\nalso:\n")
		for _, f := range others {
			fmt.Fprintf(&b, "  - %s %s: %s\n", f.Status, f.Check, f.Message)
			if f.Remedy != "" {
				fmt.Fprintf(&b, "    remedy: %s\n", f.Remedy)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func statusLabel(s Status) string {
	switch s {
	case StatusFail:
		return "FAIL"
	case StatusWarn:
		return "WARN"
	case StatusSkip:
		return "skip"
	}
	return "ok"
}

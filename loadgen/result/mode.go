package result

import "fmt"

// Mode is what one attempt does.
type Mode string

// Modes.
const (
	// ModeChurn logs in (TLS + CONNECT -> CONNACK), then disconnects.
	ModeChurn Mode = "churn"
	// ModeHold logs every device in once and keeps the sessions for Duration.
	ModeHold Mode = "hold"
	// ModeTLSOnly does the mutual-TLS handshake and has the server echo one
	// byte (server-confirmed); the baseline server speaks it, a platform does not.
	ModeTLSOnly Mode = "tls-only"
	// ModeStorm logs every device in and holds it, cuts the sessions (an
	// outage), and measures the devices reconnecting by a policy
	// (loadgen's storm.go; its results in storm.go here).
	ModeStorm Mode = "storm"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeChurn, ModeHold, ModeTLSOnly, ModeStorm:
		return m, nil
	case "":
		return ModeChurn, nil
	}
	return "", fmt.Errorf("mode %q: want %s, %s, %s or %s", s, ModeChurn, ModeHold, ModeTLSOnly, ModeStorm)
}

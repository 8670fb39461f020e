package check

// find.go: which device a certificate belongs to, when the user does not
// say. A vendor's certificate names the device in its CN in one of two ways:
// the node ID (MAC, serial number, IMEI — what openssl-made chains carry) or
// the whole device_id (what certlab pki mints). Neither proves anything; the
// registered fingerprint does, so a device whose fingerprint matches wins.

import (
	"context"
	"fmt"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// MaxFingerprintScan bounds the devices read one by one when looking a
// certificate up by fingerprint: the list API returns no fingerprints, so
// each device costs one ShowDevice call.
const MaxFingerprintScan = 1000

// DeviceMatch says how the device under check was chosen.
type DeviceMatch struct {
	DeviceID string `json:"device_id"`
	// By is "flag" (--device-id), "fingerprint" (a registered fingerprint
	// matches the certificate), "node_id" or "device_id" (the certificate CN
	// names the device, whose fingerprint does not match), or "none".
	By     string `json:"by"`
	Detail string `json:"detail"` // for people: what matched, or what was searched
}

// findDevice looks the certificate's device up in the project: first a
// device named by the CN (node_id, then device_id) whose fingerprint
// matches, then any device with a matching fingerprint (SHA-256, then SHA-1;
// at most MaxFingerprintScan devices read), then a device named by the CN
// alone. An API failure is an error: the check cannot run without it.
func (c *checker) findDevice(ctx context.Context) (DeviceMatch, error) {
	cn := c.leaf.Cert.Subject.CommonName
	sha256, sha1 := pki.FingerprintSHA256(c.leaf.Cert), pki.FingerprintSHA1(c.leaf.Cert)
	seen := map[string]bool{}
	type named struct {
		dev *iotda.Device
		by  string
	}
	var candidates []named
	if cn != "" {
		actx, cancel := c.api(ctx)
		list, err := c.cfg.Client.ListDevices(actx, iotda.DeviceListOptions{NodeID: cn, ListOptions: iotda.ListOptions{Limit: 50}})
		cancel()
		if err != nil {
			return DeviceMatch{}, fmt.Errorf("find device: list devices with node_id %q: %w", cn, err)
		}
		for _, d := range list.Devices {
			dev, err := c.showDevice(ctx, d.DeviceID)
			if err != nil {
				return DeviceMatch{}, err
			}
			if dev != nil && !seen[dev.DeviceID] {
				seen[dev.DeviceID] = true
				candidates = append(candidates, named{dev, "node_id"})
			}
		}
		if !seen[cn] {
			dev, err := c.showDevice(ctx, cn)
			if err != nil {
				return DeviceMatch{}, err
			}
			if dev != nil {
				seen[cn] = true
				candidates = append(candidates, named{dev, "device_id"})
			}
		}
	}
	for _, cand := range candidates {
		if alg, ok := deviceFingerprint(cand.dev, sha256, sha1); ok {
			return DeviceMatch{DeviceID: cand.dev.DeviceID, By: "fingerprint",
				Detail: fmt.Sprintf("its %s fingerprint matches the certificate (the certificate CN %q is its %s)", alg, cn, cand.by)}, nil
		}
	}

	scanned, marker := 0, ""
	for scanned < MaxFingerprintScan {
		actx, cancel := c.api(ctx)
		page, err := c.cfg.Client.ListDevices(actx, iotda.DeviceListOptions{ListOptions: iotda.ListOptions{Limit: 50, Marker: marker}})
		cancel()
		if err != nil {
			return DeviceMatch{}, fmt.Errorf("find device: list devices: %w", err)
		}
		for _, d := range page.Devices {
			if seen[d.DeviceID] || scanned >= MaxFingerprintScan {
				continue
			}
			seen[d.DeviceID] = true
			scanned++
			dev, err := c.showDevice(ctx, d.DeviceID)
			if err != nil {
				return DeviceMatch{}, err
			}
			if dev == nil {
				continue // deleted meanwhile
			}
			if alg, ok := deviceFingerprint(dev, sha256, sha1); ok {
				return DeviceMatch{DeviceID: dev.DeviceID, By: "fingerprint",
					Detail: fmt.Sprintf("its %s fingerprint matches the certificate (found among the project's devices; the certificate CN %q names no device)", alg, cn)}, nil
			}
		}
		if len(page.Devices) < 50 || page.Page.Marker == "" || page.Page.Marker == marker {
			break
		}
		marker = page.Page.Marker
	}
	searched := fmt.Sprintf("no device of project %s has this certificate's fingerprint (%d devices read", c.cfg.Target.ProjectID, scanned)
	if scanned >= MaxFingerprintScan {
		searched += fmt.Sprintf(", the first %d only: give --device-id", MaxFingerprintScan)
	}
	searched += ")"
	if len(candidates) > 0 {
		cand := candidates[0]
		return DeviceMatch{DeviceID: cand.dev.DeviceID, By: cand.by,
			Detail: fmt.Sprintf("its %s is the certificate CN %q, but %s", cand.by, cn, searched)}, nil
	}
	return DeviceMatch{DeviceID: cn, By: "none",
		Detail: fmt.Sprintf("%s, and no device has node_id or device_id %q (the certificate CN)", searched, cn)}, nil
}

// showDevice reads one device; nil when it does not exist.
func (c *checker) showDevice(ctx context.Context, id string) (*iotda.Device, error) {
	actx, cancel := c.api(ctx)
	defer cancel()
	d, err := c.cfg.Client.ShowDevice(actx, id)
	switch {
	case err == nil:
		return d, nil
	case iotda.StatusCode(err) == 404:
		return nil, nil
	default:
		return nil, fmt.Errorf("find device: show device %q: %w", id, err)
	}
}

// deviceFingerprint reports whether a certificate device's primary or
// secondary fingerprint matches, and with which algorithm.
func deviceFingerprint(d *iotda.Device, sha256, sha1 string) (string, bool) {
	if d.AuthInfo.AuthType != iotda.AuthCertificates {
		return "", false
	}
	for _, fp := range []string{d.AuthInfo.Fingerprint, d.AuthInfo.SecondaryFingerprint} {
		if iotda.FingerprintMatches(fp, sha256, sha1) {
			return iotda.FingerprintDigest(fp), true
		}
	}
	return "", false
}

package loadgen

import (
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

func TestLoginNames(t *testing.T) {
	ca, err := pki.NewRootCA("names CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.NewDeviceCert("node-7")
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{NodeID: "node-7", ProductID: "prod", DeviceID: "prod_node-7", Cert: leaf.TLSCertificate()}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	var iot LoginNames // IoTDA's conventions
	if !iot.IoTDA() || iot.clientID(id, now) != iotda.ClientIDFor(id.DeviceID, now) || iot.username(id, now) != "prod_node-7" {
		t.Errorf("zero LoginNames: %q / %q, want IoTDA's ClientId and the device ID", iot.clientID(id, now), iot.username(id, now))
	}

	names, err := LoginNamesOf(&iotda.Target{ClientIDTemplate: "{node_id}-{YYYYMMDDHH}", UsernameTemplate: "{cn}"})
	if err != nil {
		t.Fatal(err)
	}
	if names.IoTDA() || names.clientID(id, now) != "node-7-2026010203" || names.username(id, now) != "node-7" {
		t.Errorf("templates: %q / %q, want node-7-2026010203 / node-7 (the certificate CN)", names.clientID(id, now), names.username(id, now))
	}
	if _, err := LoginNamesOf(&iotda.Target{UsernameTemplate: "{serial}"}); err == nil {
		t.Error("an unknown placeholder was accepted")
	}
}

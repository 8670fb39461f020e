package loadgen

import (
	"time"

	"github.com/certlab/certlab/iotda"
)

// LoginNames make the MQTT ClientId and username each login sends. The
// zero LoginNames follow IoTDA [LOGIN-CLIENTID, LOGIN-USERNAME]; a target
// for another broker names its own conventions as templates
// (iotda.Target.LoginTemplates), e.g. "{cn}" for mosquitto with
// use_identity_as_username.
type LoginNames struct {
	ClientID iotda.LoginTemplate // zero: {device_id}_0_0_{YYYYMMDDHH}
	Username iotda.LoginTemplate // zero: {device_id}
}

// LoginNamesOf returns the login conventions a target names.
func LoginNamesOf(t *iotda.Target) (LoginNames, error) {
	cid, user, err := t.LoginTemplates()
	return LoginNames{ClientID: cid, Username: user}, err
}

// IoTDA reports whether the names are IoTDA's own.
func (n LoginNames) IoTDA() bool { return n.ClientID.IsZero() && n.Username.IsZero() }

// clientID is the ClientId device id sends when it logs in at now.
func (n LoginNames) clientID(id *Identity, now time.Time) string {
	if n.ClientID.IsZero() {
		return iotda.ClientIDFor(id.DeviceID, now) // [LOGIN-CLIENTID]
	}
	return n.ClientID.Expand(id.loginVars(now))
}

// username is the MQTT username device id sends.
func (n LoginNames) username(id *Identity, now time.Time) string {
	if n.Username.IsZero() {
		return id.DeviceID // [LOGIN-USERNAME]
	}
	return n.Username.Expand(id.loginVars(now))
}

func (id *Identity) loginVars(now time.Time) iotda.LoginVars {
	v := iotda.LoginVars{DeviceID: id.DeviceID, NodeID: id.NodeID, ProductID: id.ProductID, Time: now}
	if leaf := id.Cert.Leaf; leaf != nil {
		v.CN = leaf.Subject.CommonName
	}
	return v
}

package loadgen

import (
	"fmt"
	"slices"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/result"
)

// A target without a REST API (no api_endpoint) is an MQTT broker that logs
// devices in by their certificates and nothing else: mosquitto, EMQX or
// HiveMQ with a client-certificate listener. Nothing can be registered
// there, so the run needs --skip-prepare (the broker trusts the fleet's CAs:
// `certlab pki fleet-ca`); its logins are labelled result.ServerTarget; the
// broker checks the chain alone, so ExpectBroker is what it should answer
// and unknown_ca is the only bad identity it can tell from a good one. Its
// ClientId and username conventions come from the target file (LoginNames).

// ExpectBroker is what an MQTT broker without certlab's device registry
// answers (a target without a REST API): like the baseline server, it
// checks the certificate chain against the CAs it trusts, so only an
// unknown CA is refused.
func ExpectBroker(kind result.BadKind) Expectation { return ExpectBaseline(kind) }

// brokerBadKinds are the bad identities a broker without a device registry
// refuses.
var brokerBadKinds = []result.BadKind{result.BadUnknownCA}

// validateTarget checks the plan against the target file it names, before
// anything is minted or started.
func (p *Plan) validateTarget() error {
	if p.Server.TargetFile == "" {
		return nil
	}
	t, err := iotda.LoadTarget(p.Server.TargetFile)
	if err != nil {
		return err
	}
	if t.HasAPI() {
		return nil
	}
	if !p.Fleet.SkipPrepare {
		return fmt.Errorf("loadgen: target %s has no api_endpoint, so the fleet cannot be registered there: pass --skip-prepare "+
			"and have the broker trust the fleet's CAs (certlab pki fleet-ca --fleet DIR --out fleet-ca.pem)", p.Server.TargetFile)
	}
	for _, k := range p.Bad.Kinds {
		if !slices.Contains(brokerBadKinds, k) {
			return fmt.Errorf("--bad-kinds %s: target %s has no api_endpoint, so no device registry: a broker that checks only the certificate chain "+
				"lets such a device in; only %s applies", k, p.Server.TargetFile, result.BadUnknownCA)
		}
	}
	return nil
}

package fleet

import (
	"bytes"

	"github.com/certlab/certlab/sim/pki"
)

// CABundlePEM returns the certificates of the fleet's device CAs, in CA
// order, as one PEM bundle: what a broker that is not certlab's platform
// (mosquitto's cafile, EMQX's cacertfile, HiveMQ's truststore) must trust to
// log the fleet's devices in, since nothing uploads the CAs there.
func (f *Fleet) CABundlePEM() []byte {
	var b bytes.Buffer
	for _, ca := range f.cas {
		b.Write(pki.CertPEM(ca.Cert))
	}
	return b.Bytes()
}

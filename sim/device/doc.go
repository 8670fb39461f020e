// Package device is the device-side MQTT(S) login and session client for
// certlab: the one piece of code that logs a simulated device in, used by the
// BDD steps, the fleet simulator, the load generator and `certlab check`.
//
// A login is four timed phases, each under the deadline of Config.ConnectTimeout
// (and of the caller's ctx):
//
//	TCP dial -> TLS handshake (client certificate) -> [optional TLS 1.3 rejection probe] -> CONNECT -> CONNACK
//
// Login never returns an error: every attempt ends in a Result whose Outcome is
// "success" (CONNACK 0x00 received, and only then), "refused" (the server said
// no: a TLS alert, a CONNACK code, or under TLS 1.3 a drop before CONNACK that
// stands for a rejected certificate) or "error" (a timeout, a refused TCP
// connection, a protocol violation: something is wrong with the setup or the
// server, not with the device's credentials). Phase says where it ended and
// Reason classifies it ("tls_alert:bad certificate", "connack:0x87",
// "timeout", ...). A refused login is a result, not an error.
//
// LoginProbe is the same login for a load generator's churn: on success it
// sends DISCONNECT at once and starts no session (3.1.1: no reader
// goroutine, no timer). ClassifyDial, ClassifyHandshake and
// ClassifyAfterHandshake expose the classification rules (a Verdict) to
// attempts that do not speak MQTT (loadgen's tls-only echo).
//
// Every login writes through a BatchConn, which holds what TLS writes until
// the next read: under TLS 1.3 the client's last handshake flight and CONNECT
// leave in one write (one TCP segment), and LoginProbe's DISCONNECT and
// close_notify in another. A churned 3.1.1 login over TLS 1.3 makes three
// writes instead of five. TCP keepalive is off (the MQTT keepalive watches a
// session), which saves four setsockopt calls per login.
//
// MQTT 5 runs on eclipse/paho.golang (paho.Client on a connection this package
// dials itself). paho does not speak MQTT 3.1.1, so v3.1.1 (and 3.1) use a small
// session in this package built on mochi-mqtt's packet codec: CONNECT/CONNACK,
// PUBLISH QoS 0/1 with PUBACK, SUBSCRIBE/SUBACK, PINGREQ/PINGRESP keepalive and
// DISCONNECT, with one read goroutine per session.
//
// Traps handled here (docs/libraries.md A2, docs/performance.md):
//   - under TLS 1.3 the client finishes its handshake before the server has
//     checked the client certificate, so a rejection surfaces after Dial, as an
//     alert, EPIPE or ECONNRESET on the first read or write. Config.ProbeTLSRejection
//     makes it deterministic at the cost of a short read before CONNECT;
//   - crypto/tls silently withholds a client certificate that does not chain
//     to a CA the server's CertificateRequest names, turning "unknown CA" into
//     "no certificate"; a single configured certificate is always presented
//     (AlwaysPresent; opt out with Config.StdlibCertSelection);
//   - paho's CONNACK is non-nil on rejection; its default ReceiveMaximum costs
//     ~0.5 MB per client (we send 16); RequestProblemInfo must be set or the
//     broker drops reason strings;
//   - paho writes each packet as several Write calls, which on a *tls.Conn are
//     several TLS records; the connection handed to paho coalesces them into one
//     record per packet (and bounds every write with a deadline);
//   - paho's default pinger sends a PINGREQ right after CONNACK (an extra packet
//     per login for the server under test); both versions here ping after 3/4
//     of the keepalive without traffic, which also keeps clear of servers that
//     round 1.5 x keepalive down to whole seconds (mochi).
//
// A held session costs about 9-13 KiB (3.1.1: one goroutine) or 23-25 KiB
// (MQTT 5: three paho goroutines) of heap and stacks, TLS state included
// (TestHeldSessionMemory).
//
// Topic rules (IoTDA): QoS 2 is not supported [MQTT-LIMITS]; devices publish and
// subscribe under $oc/devices/{device_id}/ [ACL-OWN-TOPICS].
package device

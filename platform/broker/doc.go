// Package broker is the MQTTS side of certlab's reference platform: a
// mochi-mqtt v2 broker behind its own deadline-bounded mutual-TLS listener,
// an X.509 login hook that applies IoTDA's certificate-login rules, a topic
// ACL, login diagnostics (a bounded attempt log, one log line per refusal)
// and Prometheus metrics.
//
// A login is: TCP accept -> TLS handshake (client certificate required,
// chain verified per connection against the directory's trust snapshot) ->
// CONNECT -> identity checks -> CONNACK. One deadline (Config.ConnectTimeout)
// covers the handshake and the CONNECT packet; mochi replaces it with
// 1.5 x keepalive once the CONNECT is accepted. Every attempt, wherever it
// ends, is recorded as an iotda.LoginAttempt with a machine-readable reason
// from iotda.Refusals and counted in certlab_platform_logins_total.
//
// Reading order: login.go is the whole login decision, top to bottom — an
// ordered list of named rules in the order of the refusal table, and a pure
// decide that returns a verdict; effects.go applies verdicts (CONNACK, first
// fingerprint bind, admission, takeover, release, kicks); attempts.go and
// metrics.go record them; hook.go is the adapter to mochi, verify.go the TLS
// callback, listener.go the deadline-bounded mutual-TLS listener, state.go
// the per-connection state.
//
// Lifecycle: New validates the configuration; Start binds the listener and
// serves; Close (idempotent) stops accepting, closes every connection —
// including peers still in the handshake or silent before CONNECT — waits for
// the connection goroutines; every session's device goes offline.
//
// Behaviour choices that IoTDA leaves open (documented in the README):
//   - TLS-stage refusals carry a TLS alert (bad_certificate, or
//     certificate_required / handshake_failure when no certificate is sent),
//     never an MQTT code.
//   - CONNECT refusals carry the code of iotda.Refusals for the client's
//     protocol version; MQTT 5 CONNACKs also carry the reason name as the
//     Reason String when the client allows problem information.
//   - A CONNECT with a will is refused as will_not_supported with
//     "not authorized" (3.1.1: 0x05, 5: 0x87). [MQTT-LIMITS]
//   - A QoS 2 or retained PUBLISH ends the connection (MQTT 5: DISCONNECT
//     0x9B / 0x9A first); a packet over MaxPacketSize closes it. [MQTT-LIMITS]
//   - Sessions are never persistent (IoTDA SDKs use clean sessions).
//   - However a session ends (takeover, CA deleted, device frozen or
//     deleted, fingerprint reset, a broken limit, a 3.1.1 publish to a
//     foreign topic), its CONNACK has gone out first; MQTT 5 then gets a
//     DISCONNECT with the reason, 3.1.1 nothing (it has no server
//     DISCONNECT); then close_notify. No TLS write is ever made to fail
//     after crypto/tls sealed its record (effects.go kick, hook.go
//     OnPacketEncode). One session per device: each connection is its own
//     mochi client, and the takeover happens only in Broker.sessions.
//   - What a peer sends costs bounded memory and log: its values are cut to
//     package bound's sizes before they are recorded or logged; refusal lines
//     and mochi's own lines are rate-limited (mochilog.go).
//   - The device is ONLINE (Directory.SetOnline) before its CONNACK is
//     sent, and OFFLINE when its current session ends (not when a session
//     it took over from ends).
package broker

// Package features is certlab's Gherkin conformance suite for
// certificate-authenticated device logins (IoTDA "MQTT(S) certificate
// authentication"), runnable against any target: the embedded reference
// platform or a real deployment described by a target file.
//
// The .feature files are grouped by capability (ca/, devices/, login/, acl/,
// mqtt/) and embedded in the package. Every scenario carries the requirement
// IDs of docs/requirements.md as tags (@CA-QUOTA, @LOGIN-TLS, ...); Run
// reports pass/fail per requirement ID from godog's cucumber JSON.
//
// The step definitions reach a target only through its public interfaces —
// the IoTDA REST API (iotda.Client over HTTPS) and MQTTS (sim/device, plus a
// small raw MQTT 5 probe for protocol limits) — so the same suite checks a
// real deployment. Each scenario mints its own identities (a fresh CA, a
// product id and node ids with a random suffix), so scenarios run
// concurrently against one shared target.
//
// Tags with a special meaning:
//   - @reference: the scenario needs certlab's admin API (a fresh project per
//     scenario) and runs only when Options.Reference is set or the target
//     carries an admin token. On such targets every login refusal is also
//     checked against the platform's login-attempt log (exact reason).
//   - @quota: the slow 100-CA quota scenarios (each uploads 100+ CAs).
package features

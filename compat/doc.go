// Package compat holds certlab's compatibility matrix: tests (only) in
// which MQTT clients that certlab did not write log in to the reference
// platform with X.509 device certificates, exactly as a vendor's device
// would, and exchange messages on their own topics.
//
// The clients are Debian's mosquitto_pub and mosquitto_sub (libmosquitto on
// OpenSSL) and Debian's python3-paho-mqtt, each on MQTT 3.1.1 and MQTT 5.
// Every case starts the real platform on loopback ports, enrols a CA with
// proof of possession, registers one device per client and version, then:
//
//   - logs in and gets CONNACK 0 [LOGIN-SUCCESS];
//   - subscribes to $oc/devices/{device_id}/sys/messages/down and receives
//     a message sent through the API's CreateMessage;
//   - publishes on $oc/devices/{device_id}/sys/properties/report and sees the
//     properties in ShowDeviceShadow;
//   - is refused with a certificate of a CA nobody uploaded (TLS stage) and
//     with a certificate whose fingerprint is not registered (CONNACK code
//     of the login-refusal table) [LOGIN-TLS] [DEV-FINGERPRINT];
//   - may not subscribe to another device's topics [ACL-OWN-TOPICS].
//
// Session endings (takeover_test.go, endings_test.go) drive raw MQTT on
// Python's ssl module (testdata/takeover.py) and mosquitto_sub through
// sequential takeovers, a 16-connection takeover storm, and every other way
// the platform ends a session (CA deleted, device frozen or deleted,
// fingerprint reset with force_disconnect, QoS 2, retained or oversized
// publish, a 3.1.1 publish to a foreign topic): each connection must get
// CONNACK 0x00 first, then MQTT 5 a DISCONNECT with the reason and 3.1.1 no
// packet at all, then close_notify — no TLS record it cannot decrypt, no
// DISCONNECT on 3.1.1, exactly one session surviving a takeover storm.
//
// The tools are installed by scripts/install-tools.sh. Without them the
// tests skip, except under CI=true, where they fail. Every external process
// runs under a timeout.
package compat

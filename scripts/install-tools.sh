#!/usr/bin/env bash
# Installs the non-Go tools certlab's tests drive (Debian packages):
#   mosquitto-clients  independent MQTT 3.1.1/5 client for the compatibility tests (compat/)
#   mosquitto          a third-party mTLS MQTT broker: loadgen against any broker, bench-login's comparison
#   python3-paho-mqtt  second independent MQTT client (Debian's python3) for compat/
#   chromium           headless browser for the web console tests (platform/console)
# Idempotent; skips what is already installed. Needs root (CI runs as root).
set -euo pipefail
need=()
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# Debian's paho lives in /usr/lib/python3/dist-packages: ask Debian's python3,
# not whatever python3 comes first on PATH (pyenv and the like).
if ! { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1; }; then
	need+=(python3 python3-paho-mqtt)
fi
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-tools: need ${need[*]} but cannot apt-get here; tests that use them will skip (or fail under CI=true)" >&2
	exit 0
fi
echo "install-tools: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

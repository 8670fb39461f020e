#!/usr/bin/env bash
# The login benchmark: server CPU per server-confirmed login of the reference
# platform against, in one run, (a) a bare crypto/tls mutual-TLS server
# (handshake only), (b) a bare server that also reads CONNECT and answers
# CONNACK, and (c) Debian's mosquitto with the same client CAs (when
# installed), each pinned to the server half of the CPUs and measured in
# interleaved rounds (platform, a, b, c, platform, ...): ratios are taken
# inside a round and summarised by median and spread. ECDSA P-256 device
# certificates, TLS 1.3, X25519, MQTT 3.1.1 churn. Run at 2,000 devices and
# at 100,000 (under 100 CAs and under 1 CA). Method: docs/performance.md.
# Usage: scripts/bench-login.sh [OUT_DIR]   (env: SIZES, ROUNDS, DURATION, WORKERS, BIN)
set -euo pipefail
BIN=${BIN:-bin/certlab}
OUT=${1:-out/bench-login}
SIZES=${SIZES:-"2000:1 100000:100 100000:1"} # devices:CAs
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WORKERS=${WORKERS:-16}
mkdir -p "$OUT"
PIN=()
if [ "$(nproc)" -ge 2 ]; then PIN=(--pin); fi
COMPARE=baseline,baseline-mqtt
if [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1; then
	COMPARE=$COMPARE,mosquitto
else
	echo "bench-login: mosquitto is not installed (make tools installs it): compared with the bare servers only" >&2
fi
for size in $SIZES; do
	devices=${size%%:*}
	cas=${size##*:}
	dir="$OUT/d$devices-ca$cas"
	echo "== $devices devices under $cas verified CA(s): $ROUNDS rounds of platform, $COMPARE"
	"$BIN" loadgen --fleet "$OUT/fleet-$devices-$cas" --devices "$devices" --cas "$cas" \
		--tls 1.3 --kex x25519 --mode churn --workers "$WORKERS" \
		--warmup 2s --duration "$DURATION" --compare "$COMPARE" --rounds "$ROUNDS" --no-progress "${PIN[@]}" \
		--out "$dir" --html "$dir/report.html"
done
if [ -f "$OUT/d100000-ca100/summary.json" ] && [ -f "$OUT/d100000-ca1/summary.json" ]; then
	echo
	echo "== 100 CAs (new) against 1 CA (old)"
	"$BIN" report "$OUT/d100000-ca100/summary.json" --compare "$OUT/d100000-ca1/summary.json" --max-regression 0.03 ||
		echo "(100 CAs differ from 1 CA by more than 3% on some metric: see above)"
fi

#!/usr/bin/env bash
# Server CPU per successful login (ECDSA P-256 device certificates, TLS 1.3,
# X25519), reference platform vs a bare crypto/tls mutual-TLS server with the
# same certificates, measured side by side in one run (certlab loadgen
# --baseline), with 100,000 registered devices under 100 verified CAs and,
# for comparison, under 1 CA. Method: docs/performance.md.
# With two CPUs or more the platform and baseline children run on the lower
# half of the CPUs and the generator on the upper half (--pin).
# Usage: scripts/bench-login.sh [OUT_DIR]   (env: DEVICES, DURATION, WORKERS, BIN)
set -euo pipefail
BIN=${BIN:-bin/certlab}
OUT=${1:-out/bench-login}
DEVICES=${DEVICES:-100000}
DURATION=${DURATION:-20s}
WORKERS=${WORKERS:-16}
mkdir -p "$OUT"
PIN=()
if [ "$(nproc)" -ge 2 ]; then PIN=(--pin); fi
for cas in 100 1; do
	echo "== $DEVICES devices under $cas verified CA(s)"
	"$BIN" loadgen --fleet "$OUT/fleet-$cas" --devices "$DEVICES" --cas "$cas" \
		--tls 1.3 --kex x25519 --mode churn --workers "$WORKERS" \
		--warmup 3s --duration "$DURATION" --baseline --no-progress "${PIN[@]}" \
		--out "$OUT/cas-$cas" --html "$OUT/cas-$cas/report.html"
done
echo
echo "== 100 CAs (new) against 1 CA (old)"
"$BIN" report "$OUT/cas-100/summary.json" --compare "$OUT/cas-1/summary.json" --max-regression 0.03 || echo "(100 CAs differ from 1 CA by more than 3% on some metric: see above)"

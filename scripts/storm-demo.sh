#!/usr/bin/env bash
# Reconnect storms of DEVICES (default 5,000) held devices, measured on this
# machine (issue 13; README "Reconnect storms"):
#   1. kill of the child platform, immediate retry        (the herd)
#   2. kill of the child platform, exponential full jitter (base 1 s, cap 30 s)
#   3. and 4. the same two with the platform's handshake bound off
#      (--platform-flag=--max-handshakes=0)
#   5. client-drop against a platform started separately (`certlab platform`,
#      a target file), full jitter
# then `certlab report --compare` of 2 against 1 (and 3 against 4), gated on
# --max-never-returned 0. Each run writes OUT/NAME/{results.jsonl,
# summary.json,storm.html} and OUT/NAME.txt (its text summary).
# Run it on a quiet machine: figures from a shared one are noisy.
# Usage: scripts/storm-demo.sh [OUT_DIR]  (env: DEVICES, DOWN, DEADLINE, WORKERS, BIN)
set -euo pipefail
BIN=${BIN:-bin/certlab}
OUT=${1:-out/storm-demo}
DEVICES=${DEVICES:-5000}
DOWN=${DOWN:-2s}
DEADLINE=${DEADLINE:-3m}
WORKERS=${WORKERS:-16}
mkdir -p "$OUT"
# Each held device costs the generator and the platform one file descriptor.
need=$((DEVICES + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
	ulimit -n "$need" 2>/dev/null || { echo "ulimit -n is $(ulimit -n); $DEVICES devices need $need" >&2; exit 1; }
fi
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
common=(loadgen --mode storm --fleet "$OUT/fleet" --devices "$DEVICES" --kex x25519 --workers "$WORKERS"
	--storm-deadline "$DEADLINE" --no-progress)
storm() {
	local name=$1
	shift
	echo
	echo "== $name: $*"
	mkdir -p "$OUT/$name"
	"$BIN" "${common[@]}" --out "$OUT/$name" --html "$OUT/$name/storm.html" "$@" | tee "$OUT/$name.txt"
}
storm kill-immediate --outage kill --down "$DOWN" --policy immediate
storm kill-full-jitter --outage kill --down "$DOWN" --policy full-jitter --backoff-base 1s --backoff-cap 30s
storm kill-immediate-unbounded --outage kill --down "$DOWN" --policy immediate --platform-flag=--max-handshakes=0
storm kill-full-jitter-unbounded --outage kill --down "$DOWN" --policy full-jitter --backoff-base 1s --backoff-cap 30s \
	--platform-flag=--max-handshakes=0

# A client-drop against a separately started platform (a target file).
rm -rf "$OUT/platform"
"$BIN" platform --data "$OUT/platform" --api-addr 127.0.0.1:0 --mqtt-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
	--log-level warn >"$OUT/platform.log" 2>&1 &
platform_pid=$!
trap 'kill "$platform_pid" 2>/dev/null || true' EXIT
for _ in $(seq 300); do
	[ -s "$OUT/platform/target.json" ] && break
	sleep 0.1
done
storm client-drop-target --target "$OUT/platform/target.json" --server-pid "$platform_pid" \
	--outage client-drop --policy full-jitter --backoff-base 1s --backoff-cap 30s
kill "$platform_pid"
wait "$platform_pid" || true
trap - EXIT

echo
echo "== exponential full jitter (new) against immediate retry (old), kill of the platform, $DEVICES devices"
"$BIN" report "$OUT/kill-full-jitter/summary.json" --compare "$OUT/kill-immediate/summary.json" \
	--max-regression 0 --max-never-returned 0 --md "$OUT/compare.md" --html "$OUT/compare.html" | tee "$OUT/compare.txt"
echo
echo "== immediate retry: handshake bound on (new) against off (old)"
"$BIN" report "$OUT/kill-immediate/summary.json" --compare "$OUT/kill-immediate-unbounded/summary.json" \
	--max-regression 0 --max-never-returned 0 | tee "$OUT/compare-bound.txt"
echo
echo "reports: $OUT/*/storm.html, $OUT/compare.html"

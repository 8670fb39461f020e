#!/usr/bin/env bash
# make run: the main job on the embedded default. Starts the reference
# platform, runs the Gherkin suite against it, enrols and runs a small fleet,
# shows the platform's login-attempt log, runs a short login load (10% bad
# identities) and renders one HTML report of all of it (suite per requirement,
# fleet, load with its charts over time). Everything goes through the certlab
# CLI and the platform's target file, exactly as a user would.
set -euo pipefail
BIN=${BIN:-bin/certlab}
OUT=${1:-out/demo}
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1/6 reference platform ($OUT/platform)"
"$BIN" platform --data "$OUT/platform" --api-addr 127.0.0.1:0 --mqtt-addr 127.0.0.1:0 \
	--metrics-addr 127.0.0.1:0 --log-level warn >"$OUT/platform.log" 2>&1 &
PLATFORM_PID=$!
trap 'kill "$PLATFORM_PID" 2>/dev/null; wait "$PLATFORM_PID" 2>/dev/null || true' EXIT
TARGET="$OUT/platform/target.json"
for _ in $(seq 1 100); do
	[ -s "$TARGET" ] && break
	kill -0 "$PLATFORM_PID" 2>/dev/null || { cat "$OUT/platform.log"; exit 1; }
	sleep 0.1
done
[ -s "$TARGET" ] || { echo "platform did not become ready" >&2; cat "$OUT/platform.log"; exit 1; }
head -n 6 "$OUT/platform.log"

echo
echo "== 2/6 Gherkin conformance suite"
"$BIN" bdd --target "$TARGET" --format progress \
	--junit "$OUT/bdd-junit.xml" --cucumber "$OUT/bdd-cucumber.json"

echo
echo "== 3/6 device fleet: 40 devices over 2 CAs, MQTT 3.1.1 and 5, 8 s"
"$BIN" sim --target "$TARGET" --fleet "$OUT/fleet-sim" --devices 40 --cas 2 --mqtt mix \
	--duration 8s --report-interval 2s --json "$OUT/sim.json"

echo
echo "== 4/6 the platform's login-attempt log (newest first)"
"$BIN" attempts --target "$TARGET" --limit 5 -v

echo
echo "== 5/6 login load: 500 devices, 10% bad identities, 10 s"
"$BIN" loadgen --target "$TARGET" --fleet "$OUT/fleet-load" --devices 500 --bad-share 0.1 \
	--duration 10s --warmup 2s --workers 8 --no-progress --out "$OUT/loadgen"

echo
echo "== 6/6 one report of the whole run: suite, fleet and load"
"$BIN" report "$OUT/loadgen/results.jsonl" --bdd "$OUT/bdd-cucumber.json" --fleet "$OUT/sim.json" \
	--html "$OUT/report.html" >/dev/null

echo
echo "HTML report:   $OUT/report.html (open this first)"
echo "BDD reports:   $OUT/bdd-junit.xml, $OUT/bdd-cucumber.json"
echo "load results:  $OUT/loadgen/"
echo "platform data: $OUT/platform (target.json, server-ca.pem, registry.db)"

#!/usr/bin/env bash
# Fails if a mandated library is missing or was silently downgraded (go mod
# tidy can resolve client_golang to v1.12.0 through mochi's module graph).
set -euo pipefail
want=(
	"github.com/mochi-mqtt/server/v2 v2.7.9"
	"github.com/eclipse/paho.golang v0.23.0"
	"github.com/cucumber/godog v0.16.0"
	"github.com/prometheus/client_golang v1.25.0"
	"golang.org/x/sync v0.25.0"
)
have=$(go list -m all)
rc=0
for w in "${want[@]}"; do
	if ! grep -qx "$w" <<<"$have"; then
		echo "check-deps: want $w, have: $(grep "^${w% *} " <<<"$have" || echo missing)" >&2
		rc=1
	fi
done
exit $rc

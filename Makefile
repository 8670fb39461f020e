# certlab — set-up on a fresh machine with Go: `make run` and `make test`.
GO      ?= go
BIN     := bin/certlab
OUT     ?= out
PKGS    := ./...

.PHONY: all build run test test-short lint tools bench bench-login fmt tidy-check clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/certlab

# The main job on the embedded default: platform, BDD suite, a small fleet and
# a short login load; prints where the HTML report is.
run: build
	BIN=$(BIN) ./scripts/demo.sh $(OUT)/demo

# Tools the tests use that are not Go modules (Debian packages); installed by
# the project so CI on a fresh machine has them.
tools:
	./scripts/install-tools.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	./scripts/check-deps.sh

test: tools lint interop
	$(GO) test -race -timeout 30m $(PKGS)

test-short: lint
	$(GO) test -short -timeout 10m $(PKGS)

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./platform/... ./sim/... ./iotda/...

# Server CPU per login: platform vs a bare crypto/tls mTLS server, same run.
bench-login: build
	./scripts/bench-login.sh

clean:
	rm -rf bin $(OUT)

# Wire compatibility with Huawei's official IoTDA Go SDK (a separate module,
# so the SDK never enters certlab's own go.mod).
.PHONY: interop
interop:
	cd interop/huaweisdk && $(GO) test -count=1 ./...

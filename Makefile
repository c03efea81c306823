# Wharf — make dev · make test · make bench · make fuzz · make deps
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
DEV_DATA ?= $(HOME)/.local/share/wharf/dev
export WHARF_BIN_DIR ?= $(HOME)/.cache/wharf/bin
# Tests start several agents each; a slow machine needs room.
TEST_TIMEOUT ?= 25m
FUZZTIME ?= 1m

.PHONY: deps build dev dev-reset test lint bench soak fuzz clean terraform-provider

## deps: build the pinned agents, install Debian packages, build the base image (idempotent)
deps:
	@scripts/deps.sh all

## build: build every command into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

## terraform-provider: install terraform-provider-wharf where tofu finds it with no registry
TF_PROVIDER_VERSION := 0.1.0
TF_PLUGIN_DIR ?= $(HOME)/.terraform.d/plugins/registry.opentofu.org/wharf-platform/wharf/$(TF_PROVIDER_VERSION)/$(shell $(GO) env GOOS)_$(shell $(GO) env GOARCH)
terraform-provider:
	@mkdir -p "$(TF_PLUGIN_DIR)"
	$(GO) build -ldflags "$(LDFLAGS)" -o "$(TF_PLUGIN_DIR)/terraform-provider-wharf_v$(TF_PROVIDER_VERSION)" ./cmd/terraform-provider-wharf

## dev: start a complete local cloudspace and wharfd; Ctrl-C stops it, run again to resume
dev: deps build
	$(BIN)/wharf-dev -data "$(DEV_DATA)" -wharfd $(BIN)/wharfd

## dev-reset: forget the local cloudspace's data (stop `make dev` first)
dev-reset:
	rm -rf "$(DEV_DATA)" /var/tmp/wharf-postgres-*

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: every test (unit, integration against real agents, end-to-end)
test: deps lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## bench: benchmarks, each printing ratios against a baseline measured in the same run
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3s ./...
	$(GO) run ./ingress/bench

## soak: 20 environments changing under load for SOAK (10m), wharfd and an ingress killed a few times
SOAK ?= 10m
soak: deps
	$(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./e2e -args -soak $(SOAK)

## fuzz: each fuzz target for FUZZTIME
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf $(BIN)

# banger — build, test, lint and benchmark.
GO        ?= go
PREFIX    ?= $(HOME)/.local
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

.PHONY: all build vk install test test-short lint bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/banger ./cmd/bangerd ./cmd/banger-agent ./cmd/banger-init

# banger-vk, the Kubernetes provider, is a module of its own (./vk) so that
# the core build does not pull in Kubernetes; see docs/kubernetes.md.
vk:
	cd vk && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o ../bin/ ./cmd/banger-vk

install: build
	install -d $(PREFIX)/bin
	install -m 0755 bin/banger bin/bangerd bin/banger-agent bin/banger-init $(PREFIX)/bin/

# The whole suite: unit tests with the race detector, root tests and the
# end-to-end tests against the fake Firecracker. Tiers that cannot run on
# this host skip with a message naming what is missing. The crash hook of
# bangerd exists only in bangertest builds; its own test runs with the tag.
test:
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 -tags bangertest ./cmd/bangerd/
	cd vk && $(GO) test -race -count=1 -timeout 30m ./...

# The unit tier only: no root, no guests, no slow tests.
test-short:
	$(GO) test -short -count=1 ./...
	cd vk && $(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags bangertest ./cmd/bangerd/
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	$(GO) mod tidy -diff
	cd vk && $(GO) vet ./...
	cd vk && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	cd vk && $(GO) mod tidy -diff

# Benchmarks print their figures next to a baseline measured in the same run.
# The real-guest ones (BenchmarkVMRun, BenchmarkCreateDisks) add about two
# minutes under TCG; the timeout covers a first kernel and image build.
# BANGER_BENCH_BUILD=1 also times fresh image and kernel builds.
# BenchmarkFirstRun times a first `banger vm run -- true` from empty banger
# state and cache (kernel fetch, image build, boot; root, qemu, mmdebstrap
# and the Debian mirror needed; about 2 minutes);
# BANGER_BENCH_FIRSTRUN_BUILD=1 adds, side by side, the kernel-build path
# (`banger kernel build` from an empty cache, then the same run: 10 to 20
# minutes more); without it the output says it was skipped. The network
# benchmarks run in namespaces of their own; the DNS one compares with
# dnsmasq (apt-get install dnsmasq-base) and skips without it. The vk ones
# time a Pod to Running through a real apiserver, scheduler and bangerd (fake
# VMM) against bangerd alone, and 100 Pods across two nodes.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 60m ./internal/bench/
	$(GO) test -run '^$$' -bench . -benchmem ./internal/store/ ./internal/disk/
	$(GO) test -run '^$$' -bench . -benchtime 200x ./internal/netlink/ ./internal/firewall/
	$(GO) test -run '^$$' -bench 'BenchmarkQueries|BenchmarkAnswer' -benchtime 3s ./internal/dns/
	cd vk && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./provider/

clean:
	rm -rf bin

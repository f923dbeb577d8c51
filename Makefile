# rueidisfs build and test entry points.
#
#   make build   build bin/rueidisfs
#   make test    the whole test suite (what CI runs): gofmt, go vet,
#                staticcheck, the tests (with the race detector for the
#                concurrent packages), then the fault suite. The tests start
#                their own redis-server processes; the redis-server binary
#                must be installed.
#   make test-faults
#                the fault-injection suite alone (build tag "faults", package
#                internal/faulttest): Redis restarts, stalls, killed
#                connections, SCRIPT FLUSH, Sentinel and Cluster failovers and
#                slot migrations during a workload, and the client-side cache
#                across them; about a minute. Without the race detector: when
#                connections are killed, rueidis v1.0.79 hands a command back
#                to its pool after a writer goroutine read it, which -race
#                reports (benign: the goroutine is done). Run it with
#                GOTESTFLAGS=-race to check the engine's own code, expecting
#                that report now and then.

GO          ?= go
GOBIN_DIR   := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(GOBIN_DIR)/staticcheck)
TIMEOUT     ?= 20m
GOTESTFLAGS ?=

# Packages with goroutines of their own run under the race detector.
RACE_PKGS  := $(shell $(GO) list ./meta/... ./cachestore/... ./redisconn/... ./internal/... ./objstore/... ./chunk/... ./fileio/... 2>/dev/null)
OTHER_PKGS := $(filter-out $(RACE_PKGS),$(shell $(GO) list ./... 2>/dev/null))

.PHONY: all build test test-faults fmt-check vet staticcheck test-race test-other clean

all: build

build:
	$(GO) build -o bin/rueidisfs ./cmd/rueidisfs

test: fmt-check vet staticcheck test-race test-other test-faults

fmt-check:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "these files need gofmt -w:"; echo "$$unformatted"; exit 1; \
	fi

vet:
	$(GO) vet ./...

$(GOBIN_DIR)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@latest

staticcheck: $(if $(filter $(GOBIN_DIR)/staticcheck,$(STATICCHECK)),$(GOBIN_DIR)/staticcheck)
	$(STATICCHECK) ./...

test-race:
	$(GO) test -race -timeout $(TIMEOUT) $(GOTESTFLAGS) $(RACE_PKGS)

test-other:
	$(if $(OTHER_PKGS),$(GO) test -timeout $(TIMEOUT) $(GOTESTFLAGS) $(OTHER_PKGS))

test-faults: $(if $(filter $(GOBIN_DIR)/staticcheck,$(STATICCHECK)),$(GOBIN_DIR)/staticcheck)
	$(GO) vet -tags faults ./internal/faulttest/
	$(STATICCHECK) -tags faults ./internal/faulttest/
	$(GO) test -tags faults -timeout $(TIMEOUT) $(GOTESTFLAGS) ./internal/faulttest/

clean:
	rm -rf bin

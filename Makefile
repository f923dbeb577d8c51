# rueidisfs build and test entry points.
#
#   make build   build bin/rueidisfs (its version names the git commit)
#   make install build, then copy rueidisfs into $(BINDIR): /usr/local/bin
#                for root, ~/.local/bin for anyone else (PREFIX=/opt/x or
#                BINDIR=/some/bin to choose)
#   make test    the whole test suite (what CI runs): gofmt, go vet,
#                staticcheck, the tests (with the race detector for the
#                concurrent packages), then the fault suite. The tests start
#                their own redis-server processes; the redis-server binary
#                must be installed; the S3-compatible server versitygw is
#                built by the first run (make s3-server). The mount tests
#                (fusefs, internal/mounttest) mount volumes through FUSE:
#                they need root, /dev/fuse and fuse3, and run tar, go, git,
#                sqlite3, rsync and setfacl in the mounts.
#   make test-mount-heavy
#                the mount tests with the heavier workloads: the whole of
#                GOROOT/src unpacked in a mount and compared (several
#                minutes), the crash test run five times.
#   make test-faults
#                the fault-injection suite alone (build tag "faults", package
#                internal/faulttest): Redis restarts, stalls, killed
#                connections, SCRIPT FLUSH, Sentinel and Cluster failovers and
#                slot migrations during a workload, and the client-side cache
#                across them; about two minutes. Without the race detector: when
#                connections are killed, rueidis v1.0.79 hands a command back
#                to its pool after a writer goroutine read it, which -race
#                reports (benign: the goroutine is done). Run it with
#                GOTESTFLAGS=-race to check the engine's own code, expecting
#                that report now and then.
#   make test-random
#                the randomized multi-client test of the fault suite
#                (TestRandomized) with 10,000 operations per client instead of
#                300; about ten minutes.
#   make test-failovers
#                the Sentinel failover tests with ten failovers each (manual
#                and by killing the master) instead of two; about ten minutes.

GO          ?= go
TIMEOUT     ?= 20m
GOTESTFLAGS ?=

PREFIX ?= $(if $(filter 0,$(shell id -u)),/usr/local,$(HOME)/.local)
BINDIR ?= $(PREFIX)/bin

# The commit the binary is built from, linked into `rueidisfs version`.
# (The Go toolchain records it itself only in a plain clone, not in a git
# worktree or with GOFLAGS=-buildvcs=false.)
VERSION_PKG := github.com/rueidisfs/rueidisfs/internal/cli
GIT_REV     := $(shell git rev-parse HEAD 2>/dev/null)
GIT_TIME    := $(shell git log -1 --format=%cI 2>/dev/null)
GIT_DIRTY   := $(if $(shell git status --porcelain --untracked-files=no 2>/dev/null),true,false)
LDFLAGS     := $(if $(GIT_REV),-X $(VERSION_PKG).linkedRevision=$(GIT_REV) -X $(VERSION_PKG).linkedTime=$(GIT_TIME) -X $(VERSION_PKG).linkedModified=$(GIT_DIRTY))

# staticcheck is pinned (a newer release may report new findings) and
# installed inside the repository, in bin/tools/, by the first `make
# staticcheck` (or `make test`), from the Go module proxy.
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := bin/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

# The S3-compatible server the object storage tests start (versitygw,
# serving a temporary directory on a loopback port), pinned like
# staticcheck and installed beside it by `make s3-server` (or `make test`)
# from the Go module proxy: about 1.5 minutes of building on 2 cores. The
# tests find it through VERSITYGW and fail when it is missing.
VERSITYGW_VERSION := v1.8.0
VERSITYGW         := $(CURDIR)/bin/tools/versitygw-$(VERSITYGW_VERSION)/versitygw
export VERSITYGW

# Packages with goroutines of their own run under the race detector.
RACE_PKGS  := $(shell $(GO) list ./meta/... ./cachestore/... ./redisconn/... ./internal/... ./objstore/... ./chunk/... ./fileio/... ./vfs/... ./fusefs/... 2>/dev/null)
OTHER_PKGS := $(filter-out $(RACE_PKGS),$(shell $(GO) list ./... 2>/dev/null))

.PHONY: test-mount-heavy all build install test test-faults test-failovers test-random fmt-check vet staticcheck s3-server test-race test-other clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/rueidisfs ./cmd/rueidisfs

install: build
	install -d '$(DESTDIR)$(BINDIR)'
	install -m 0755 bin/rueidisfs '$(DESTDIR)$(BINDIR)/rueidisfs'
	@echo "installed $(DESTDIR)$(BINDIR)/rueidisfs"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) \
		echo "note: $(BINDIR) is not on your PATH; add it (e.g. export PATH=\"$(BINDIR):\$$PATH\" in ~/.profile)";; esac

test: fmt-check vet staticcheck s3-server test-race test-other test-faults

fmt-check:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "these files need gofmt -w:"; echo "$$unformatted"; exit 1; \
	fi

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN='$(CURDIR)/$(dir $(STATICCHECK))' $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

$(VERSITYGW):
	GOBIN='$(dir $(VERSITYGW))' $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

s3-server: $(VERSITYGW)

test-race:
	$(GO) test -race -timeout $(TIMEOUT) $(GOTESTFLAGS) $(RACE_PKGS)

test-other:
	$(if $(OTHER_PKGS),$(GO) test -timeout $(TIMEOUT) $(GOTESTFLAGS) $(OTHER_PKGS))

test-faults: $(STATICCHECK)
	$(GO) vet -tags faults ./internal/faulttest/
	$(STATICCHECK) -tags faults ./internal/faulttest/
	$(GO) test -tags faults -timeout $(TIMEOUT) $(GOTESTFLAGS) ./internal/faulttest/

clean:
	rm -f bin/rueidisfs

test-random:
	RUEIDISFS_RANDOM_OPS=10000 $(GO) test -tags faults -timeout 60m $(GOTESTFLAGS) -run 'TestRandomized$$' -v ./internal/faulttest/

test-failovers:
	RUEIDISFS_FAILOVERS=10 $(GO) test -tags faults -timeout 60m $(GOTESTFLAGS) -run 'TestSentinelFailover$$|TestSentinelManualFailover$$' -v ./internal/faulttest/

test-mount-heavy:
	RUEIDISFS_FULL_TREE=1 $(GO) test -timeout 60m $(GOTESTFLAGS) -run '^(TestTarball|TestRsync|TestGoBuild)$$' -v ./internal/mounttest/
	$(GO) test -timeout 30m -count 5 $(GOTESTFLAGS) -run '^TestCrash$$' ./internal/mounttest/

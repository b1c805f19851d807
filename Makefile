# avdgen build. `make` cross-compiles the agents into dist/bin (embedded by
# avdgen), then builds avdgen into bin/. Builds are reproducible: -trimpath,
# no build id, no VCS stamp, version from git.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKG       := github.com/avdgen/avdgen
LDFLAGS   := -s -w -buildid= -X $(PKG)/cmd/internal/buildinfo.Version=$(VERSION)
BUILD     := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)"
ARCHES    := amd64 arm64
AGENTS    := $(foreach a,$(ARCHES),dist/bin/avd-agent-$(a).exe)
GOFILES   := $(shell find . -name '*.go' -not -path './out/*') go.mod go.sum

.PHONY: all agents avdgen deps test vet bench mutate example dist clean sweep-bin FORCE

all: avdgen

agents: $(AGENTS) dist/bin/VERSION

# The agent's Windows version resource (file and product version = VERSION)
# is generated right before each build: a .syso the linker picks up for that
# GOARCH only. Gitignored; its bytes depend only on VERSION and the arch.
dist/bin/avd-agent-%.exe: $(GOFILES) dist/bin/VERSION
	$(GO) run ./cmd/internal/agentres -version "$(VERSION)" -arch $* -o cmd/avd-agent/rsrc_windows_$*.syso
	GOOS=windows GOARCH=$* $(BUILD) -o $@ ./cmd/avd-agent

dist/bin/VERSION: FORCE
	@echo "$(VERSION)" | cmp -s - $@ || echo "$(VERSION)" > $@

avdgen: bin/avdgen

bin/avdgen: agents $(GOFILES)
	$(BUILD) -o $@ ./cmd/avdgen

# Everything the tests use: Debian packages (apt-get, as root or with sudo)
# and tree-sitter-powershell from npm. Does nothing when all is there.
deps:
	bash .ci/deps

# The README's test command. Installs what is missing, builds the agents first
# so the tests that run the real Windows build under Wine and the bundle tests
# have them, then runs every test; nothing is skipped.
test: deps agents
	$(GO) build -o bin/testsummary ./cmd/internal/testsummary
	bash -o pipefail -c '$(GO) test -count=1 -json ./... | bin/testsummary'

vet:
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...

bench: agents
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

# Mutation testing of the agent's decision and of the logoff/idle runs, each
# package against its own tests only (docs/testing.md has the figures).
# Fails below 90 % test efficacy or 90 % mutator coverage.
GREMLINS ?= $(shell $(GO) env GOPATH)/bin/gremlins
MUTATE    := $(GREMLINS) unleash --workers 1 --timeout-coefficient 10 --threshold-efficacy 90 --threshold-mcover 90
mutate:
	@test -x $(GREMLINS) || $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
	$(MUTATE) ./agent/decide
	$(MUTATE) ./agent/logoff

# The README's first command: the example spec, end to end.
example: bin/avdgen
	rm -rf out/example-gpo
	./bin/avdgen gpo --config examples/avdgen.yaml --out out/example-gpo
	./bin/avdgen version

# avdgen for every admin's machine, each with both agents embedded, and the
# sweep-only Linux builds for the sweep job's image, as archives plus
# SHA256SUMS in out/dist. Reproducible: the same commit gives
# the same bytes (fixed file times from the commit, sorted entries, no owner).
DIST_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
dist: agents
	rm -rf out/dist
	@for t in $(DIST_TARGETS); do os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "dist: avdgen $(VERSION) $$os/$$arch"; \
	  GOOS=$$os GOARCH=$$arch $(BUILD) -o out/dist/stage/avdgen_$(VERSION)_$${os}_$${arch}/avdgen$$ext ./cmd/avdgen || exit 1; \
	  cp README.md out/dist/stage/avdgen_$(VERSION)_$${os}_$${arch}/; done
	@# The sweep-only Linux builds `avdgen sweep image` puts in the job's
	@# image, so an admin on any OS (Windows too) needs no Go to build it.
	@for a in amd64 arm64; do echo "dist: avdgen-sweep $(VERSION) linux/$$a (-tags noagents)"; \
	  GOOS=linux GOARCH=$$a $(BUILD) -tags noagents -o out/dist/stage/avdgen-sweep_$(VERSION)_linux_$$a/avdgen ./cmd/avdgen || exit 1; \
	  cp README.md out/dist/stage/avdgen-sweep_$(VERSION)_linux_$$a/; done
	$(GO) run ./cmd/internal/distpack -mtime $(SOURCE_DATE_EPOCH) out/dist/stage out/dist
	rm -rf out/dist/stage
	cat out/dist/SHA256SUMS

clean:
	rm -rf bin out $(AGENTS) dist/bin/VERSION cmd/avd-agent/rsrc_windows_*.syso

# The sweep-only avdgen for the Container Apps job image (`avdgen sweep
# image`): static linux/amd64 and linux/arm64 builds without the embedded
# Windows agents (-tags noagents), reproducible like the others.
sweep-bin:
	@for a in amd64 arm64; do echo "sweep-bin: out/sweep/avdgen-sweep-linux-$$a"; \
	  GOOS=linux GOARCH=$$a $(BUILD) -tags noagents -o out/sweep/avdgen-sweep-linux-$$a ./cmd/avdgen || exit 1; done

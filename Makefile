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

.PHONY: all agents avdgen test vet bench mutate example clean FORCE

all: avdgen

agents: $(AGENTS) dist/bin/VERSION

dist/bin/avd-agent-%.exe: $(GOFILES)
	GOOS=windows GOARCH=$* $(BUILD) -o $@ ./cmd/avd-agent

dist/bin/VERSION: FORCE
	@echo "$(VERSION)" | cmp -s - $@ || echo "$(VERSION)" > $@

avdgen: bin/avdgen

bin/avdgen: agents $(GOFILES)
	$(BUILD) -o $@ ./cmd/avdgen

# The README's test command. Builds the agents first so the tests that run the
# real Windows build under Wine and the bundle tests have them.
test: agents
	$(GO) test -count=1 ./...

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

clean:
	rm -rf bin out $(AGENTS) dist/bin/VERSION

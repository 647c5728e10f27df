# lvs-go: a userspace Linux Virtual Server.
# GNU conventions: all build test demo bench install uninstall clean lint.

SHELL   := /bin/bash
GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export PATH := $(dir $(GO)):$(PATH)

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man

BIN     := bin
CMDS    := lvsd lvsadm lvssim
# Packages whose tests also run under the race detector (the concurrent ones);
# the rest would not fit CI's time on 2 cores.
RACE_PKGS := ./ipvs/... ./sched/... ./conntrack/... ./health/... ./ha/... ./dataplane/linktest/... ./config/...
TEST_TIMEOUT ?= 20m

.PHONY: all build test demo bench install uninstall clean lint deps fmt-check vet

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

deps:
	@scripts/install-deps.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(find . -name '*.go' -not -path './.git/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint: vet fmt-check

# make test: installs missing system packages, then vet, gofmt, all tests,
# and the race detector on the concurrent packages.
test: deps lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -race -short -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

# make demo: installs what it needs, builds, and runs the simulator on the
# embedded default site (the guide's figure 1.1).
demo: deps build
	$(BIN)/lvssim run

# make bench: hot-path micro-benchmarks with allocations.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./ipvs/... ./sched/... ./conntrack/... ./frame/...

install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BIN)/lvsd $(BIN)/lvsadm $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BIN)/lvssim $(DESTDIR)$(BINDIR)/
	install -m 0644 docs/man/lvs.cf.5 $(DESTDIR)$(MANDIR)/man5/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/lvsd $(DESTDIR)$(SBINDIR)/lvsadm $(DESTDIR)$(BINDIR)/lvssim
	rm -f $(DESTDIR)$(MANDIR)/man5/lvs.cf.5

clean:
	rm -rf $(BIN)
	$(GO) clean -testcache

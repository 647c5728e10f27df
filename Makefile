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
# systemd's unit directory: /lib/systemd/system for a distribution install
# (PREFIX=/usr, Debian's `pkg-config --variable=systemdsystemunitdir`),
# else under PREFIX.
ifeq ($(PREFIX),/usr)
UNITDIR ?= /lib/systemd/system
else
UNITDIR ?= $(PREFIX)/lib/systemd/system
endif
# bash-completion's directory of completions loaded on demand.
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

BIN     := bin
CMDS    := lvsd lvsadm lvssim
# Packages whose tests also run under the race detector (the concurrent ones);
# the rest would not fit CI's time on 2 cores.
RACE_PKGS := ./ipvs/... ./sched/... ./conntrack/... ./health/... ./ha/... ./dataplane/linktest/... ./config/... ./admin/web/...
TEST_TIMEOUT ?= 20m

.PHONY: all build test demo bench install uninstall deb clean lint deps fmt-check vet

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

# make bench: the hot-path micro-benchmarks (go test -bench, with
# allocations), then the whole-system benchmark (needs root): lvsd against the
# kernel on one namespace topology (NAT and direct routing, memory at 10k–1M
# flows, scaling curves), report in $(BENCH_OUT)/report.md with SVG plots next
# to it and the micro-benchmarks appended in benchstat format; then a short
# run whose TCP connections close with a FIN, as most clients' do (the main
# run closes them with an RST), in $(BENCH_OUT)/fin/report.md. About 20
# minutes (about 1.5 of them micro-benchmarks; more when the host takes
# cores and lvsbench measures windows again, --steal-retries); BENCHFLAGS=--quick for the
# short run: lvsbench --quick takes about 3 minutes, and the micro-benchmarks
# then run with a shorter -benchtime. A package whose benchmarks do not build
# is reported in micro.txt and does not stop the rest.
BENCH_OUT   ?= out/bench
BENCHFLAGS  ?=
BENCHTIME   ?= $(if $(findstring --quick,$(BENCHFLAGS)),50ms,200ms)
BENCH_PKGS  := ./ipvs/... ./sched/... ./conntrack/... ./frame/... ./neigh/... ./dataplane/...
bench:
	@mkdir -p $(BIN) $(BENCH_OUT)
	$(GO) build -o $(BIN)/lvsbench ./cmd/lvsbench
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(BENCH_PKGS) > $(BENCH_OUT)/micro.txt 2>&1 \
		|| echo "make bench: some micro-benchmarks failed; see $(BENCH_OUT)/micro.txt"
	$(BIN)/lvsbench --out $(BENCH_OUT) --micro $(BENCH_OUT)/micro.txt $(BENCHFLAGS)
	$(BIN)/lvsbench --quick --reps 3 --tcp-close fin --no-overload --no-scaling \
		--contenders klb,lvsd-1w,kfwd-dr,lvsd-dr --out $(BENCH_OUT)/fin

# make soak: lvssim soak, needs root: the failover site for 30 minutes at
# moderate load with a reload every 10 s, a health flap every 30 s and a
# takeover and failback every 5 minutes; both lvsd's RSS, goroutines, open
# descriptors and connections sampled into $(SOAK_OUT)/soak.csv and
# soak.svg, failed requests per event and every download's checksum in
# soak.md. SOAKFLAGS passes more flags (--duration 2m for a short one).
SOAK_OUT   ?= out/soak
SOAKFLAGS  ?=
.PHONY: soak
soak: build
	$(BIN)/lvssim soak --bin $(BIN) --out $(SOAK_OUT) $(SOAKFLAGS)

# make install puts exactly these files under $(DESTDIR), and make uninstall
# removes them (dist/install_test.go checks both, and runs
# systemd-analyze verify on the unit where systemd is installed):
#   $(SBINDIR)/lvsd  $(SBINDIR)/lvsadm  $(BINDIR)/lvssim
#   $(MANDIR)/man1/lvssim.1  $(MANDIR)/man5/lvs.cf.5
#   $(MANDIR)/man8/lvsd.8  $(MANDIR)/man8/lvsadm.8
#   $(UNITDIR)/lvsd.service    (from dist/lvsd.service.in, @SBINDIR@ replaced)
#   $(BASHCOMPDIR)/lvsadm      (from dist/lvsadm.bash-completion)
# It never writes /etc: lvs.cf stays the administrator's (see lvs.cf(5)).
# Then: systemctl daemon-reload && systemctl enable --now lvsd
MAN1 := lvssim.1
MAN5 := lvs.cf.5
MAN8 := lvsd.8 lvsadm.8

install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BIN)/lvsd $(BIN)/lvsadm $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BIN)/lvssim $(DESTDIR)$(BINDIR)/
	install -m 0644 $(addprefix docs/man/,$(MAN1)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(addprefix docs/man/,$(MAN5)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(addprefix docs/man/,$(MAN8)) $(DESTDIR)$(MANDIR)/man8/
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/lvsd.service.in > $(BIN)/lvsd.service
	install -m 0644 $(BIN)/lvsd.service $(DESTDIR)$(UNITDIR)/lvsd.service
	install -m 0644 dist/lvsadm.bash-completion $(DESTDIR)$(BASHCOMPDIR)/lvsadm

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/lvsd $(DESTDIR)$(SBINDIR)/lvsadm $(DESTDIR)$(BINDIR)/lvssim
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(MAN1)) $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(MAN5)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(MAN8))
	rm -f $(DESTDIR)$(UNITDIR)/lvsd.service
	rm -f $(DESTDIR)$(BASHCOMPDIR)/lvsadm

# make deb: $(DEB_OUT)/lvs-go_$(DEB_VERSION)_amd64.deb, built with dpkg-deb
# by dist/deb/build.sh: what make install installs for PREFIX=/usr, the
# commented sample /etc/sysconfig/ha/lvs.cf as a conffile, the Grafana
# dashboard and alert rules in /usr/share/lvs-go, copyright, changelog and
# maintainer scripts (dist/deb_test.go installs it into a scratch root).
DEB_VERSION ?= $(shell git log -1 --format=0.0~git%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0.0)
DEB_OUT     ?= $(BIN)
deb:
	GO=$(GO) dist/deb/build.sh $(DEB_OUT) $(DEB_VERSION)

clean:
	rm -rf $(BIN)
	$(GO) clean -testcache

# rkt in Python. Every target works as root on a fresh Debian 12 machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RKT := $(VENV)/bin/rkt
# Debian's interpreter: built with PGO and LTO, it starts and runs ~30% faster than an
# unoptimized build (pyenv's), and it is the one a fresh Debian 12 machine has.
PYTHON ?= /usr/bin/python3

# Debian packages, split so that a user's `make install` pulls only what rkt runs with.
# RUNTIME: what rkt/ and stage1/ use when they run: the venv, gpg (signature checks), libseccomp
# (seccomp isolators), mount tools, and CNI networking (plugins, ip, iptables/nft).
RUNTIME_PACKAGES := python3 python3-venv gnupg libseccomp2 util-linux \
	iproute2 iptables nftables containernetworking-plugins
# DEMO: `make run` builds its busybox ACI from Debian's static busybox.
DEMO_PACKAGES := busybox-static
# TEST: what the tests, the appc conformance harness and the benchmarks run beside rkt (Go and
# appc's sources for actool and the ACE validator, peers to compare with, registries, HTTP tools;
# gcc builds the static sd_notify/socket-activation helpers of tests/systemd, systemd's tools check them).
TEST_PACKAGES := golang-go golang-github-appc-spec-dev runc systemd-container hyperfine time \
	skopeo umoci docker-registry apache2-utils curl xz-utils bzip2 gcc libc6-dev systemd
# Everything: `make test`, `make bench` and .ci/run install this list.
APT_PACKAGES := $(RUNTIME_PACKAGES) $(DEMO_PACKAGES) $(TEST_PACKAGES)
DEMO := build/demo

.PHONY: deps deps-runtime install install-systemd test run bench conformance clean stage1

# apt-get runs only when a package of the list is missing; a stamp is redone when this file
# (and so a list) changes.
define apt_install
	@mkdir -p build
	@if ! dpkg -s $(1) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); fi
	@touch $@
endef

deps-runtime: build/.deps-runtime
build/.deps-runtime: Makefile
	$(call apt_install,$(RUNTIME_PACKAGES))
build/.deps-demo: Makefile
	$(call apt_install,$(DEMO_PACKAGES))
deps: build/.deps
build/.deps: Makefile
	$(call apt_install,$(APT_PACKAGES))

# The venv in .venv with rkt installed (editable), `rkt` on PATH, its bytecode compiled (this
# kind of machine sets PYTHONDONTWRITEBYTECODE, so nothing would cache it otherwise), and the
# default stage1 ACI where stage0 looks for it (<venv>/lib/rkt/stage1.aci).
STAGE1_ACI := $(VENV)/lib/rkt/stage1.aci
SOURCES := $(shell find rkt stage1 -name '*.py' 2>/dev/null)
install: build/.installed build/.compiled $(STAGE1_ACI)
build/.installed: build/.deps-runtime pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e .
	@$(MAKE) -s launcher
	@ln -sf $(abspath $(RKT)) /usr/local/bin/rkt
	@touch $@
# `rkt` itself starts its interpreter isolated and without site (-IS): no .pth processing and no
# setuptools editable-install import hook (together ~25 ms of every command), no PYTHONPATH or
# user site from the caller's environment; the launcher names the checkout and the venv's
# site-packages (requests, gnupg for fetch) itself. pip's own console script is replaced.
SITE_PACKAGES = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
.PHONY: launcher
launcher:
	@printf '%s\n' '#!$(abspath $(PY)) -IS' \
		'# written by `make install` (Makefile: launcher)' \
		'import sys' \
		'sys.prefix = sys.exec_prefix = "$(abspath $(VENV))"  # as site does for a venv' \
		'sys.path.insert(0, "$(CURDIR)")' \
		'sys.path.append("$(SITE_PACKAGES)")' \
		'from rkt.cli import main' \
		'sys.exit(main())' > $(RKT).new
	@chmod 755 $(RKT).new && mv $(RKT).new $(RKT)

build/.compiled: build/.installed $(SOURCES)
	@$(PY) -m compileall -q rkt stage1 >/dev/null
	@touch $@

# The test extras (pytest, jsonschema, ...) and every Debian package the tests use.
build/.test-installed: build/.installed build/.deps pyproject.toml
	@$(PY) -m pip install -q -e '.[test]'
	@$(MAKE) -s launcher  # pip wrote its console script again
	@touch $@

# systemd units (gc timer, metadata service and socket), rkt's tmpfiles.d entry and groups, and
# the example pod units as documentation. DESTDIR stages them elsewhere (packaging, tests);
# without it, the groups and the data dir are created and systemd reloads.
PREFIX ?= /usr/local
UNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
EXAMPLEDIR ?= $(PREFIX)/share/doc/rkt/examples
install-systemd:
	@install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(EXAMPLEDIR)
	@install -m 0644 dist/systemd/rkt-gc.service dist/systemd/rkt-gc.timer \
		dist/systemd/rkt-metadata.service dist/systemd/rkt-metadata.socket $(DESTDIR)$(UNITDIR)/
	@install -m 0644 dist/systemd/tmpfiles.d/rkt.conf $(DESTDIR)$(TMPFILESDIR)/rkt.conf
	@install -m 0644 dist/systemd/sysusers.d/rkt.conf $(DESTDIR)$(SYSUSERSDIR)/rkt.conf
	@install -m 0644 dist/systemd/example-pod*.service dist/systemd/example-pod*.socket $(DESTDIR)$(EXAMPLEDIR)/
	@if [ -z "$(DESTDIR)" ]; then \
		systemd-sysusers $(SYSUSERSDIR)/rkt.conf && systemd-tmpfiles --create $(TMPFILESDIR)/rkt.conf; \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; fi

stage1: $(STAGE1_ACI)
$(STAGE1_ACI): build/.installed $(shell find stage1 -name "*.py" 2>/dev/null) rkt/__init__.py
	@$(PY) -m stage1.build $@

# The main job on an embedded default: a busybox ACI built from Debian's busybox-static, run in a pod.
run: install build/.deps-demo
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@$(PY) -m tests.helpers.demo $(DEMO)
	@$(RKT) --dir=$(DEMO)/data --insecure-options=image run $(DEMO)/busybox.aci
	@$(RKT) --dir=$(DEMO)/data gc --grace-period=0s >/dev/null 2>&1

test: install build/.test-installed
	@$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; rc=0; fi; exit $$rc

# pod and scale benchmarks, their summary table and build/bench.png (BENCH="pod scale import ...")
BENCH ?= pod scale
bench: install build/.test-installed
	@$(PY) bench/run.py --png build/bench.png --json build/bench.json $(BENCH)

# appc conformance: the ACE validator pod and actool checks (also run by `make test`).
conformance: install build/.test-installed
	@$(PY) specs/conformance/ace.py

clean:
	rm -rf build $(VENV)
	find rkt stage1 -name __pycache__ -type d -prune -exec rm -rf {} +

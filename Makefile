# molecule-mcp: the commands a developer and CI use.
CARGO ?= cargo

.PHONY: all build test interop-deps fmt bench run demo release static clean

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

# The gateway benchmark runs the release fixtures against the release binary.
bench:
	$(CARGO) build --release --examples
	$(CARGO) bench --bench machines --bench platform --bench mcp --bench gateway

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

# A static binary for FROM scratch images (musl; needs `musl-tools`).
static:
	rustup target add x86_64-unknown-linux-musl
	CC_x86_64_unknown_linux_musl=musl-gcc $(CARGO) build --release --target x86_64-unknown-linux-musl --bin molecule-mcp

clean:
	$(CARGO) clean

# The soak belongs to `make bench`: 10 minutes of mixed traffic through the
# release binary (MOLECULE_MCP_SOAK_SECS shortens it).
bench: soak
soak:
	$(CARGO) build --release --examples
	$(CARGO) bench --bench soak

# molecule-mcp: the commands a developer and CI use.
CARGO ?= cargo

.PHONY: all build test lint fmt bench run demo release clean

all: build

build:
	$(CARGO) build

# The README's test command: formatting, lints, then every test.
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench

# Runs the binary with whatever environment you have; without configuration
# it prints what is missing (exit 2).
run:
	$(CARGO) run --bin molecule-mcp

# The main job: a self-contained demo against a local platform simulator.
demo:
	$(CARGO) build --release --bin molecule-mcp --example demo
	./target/release/examples/demo

release:
	$(CARGO) build --release

clean:
	$(CARGO) clean

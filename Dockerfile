# molecule-mcp in an image holding nothing but the static binary.
#   make static && docker build -t molecule-mcp .
# tests/empty_root.rs runs this layout (chroot, uid 65534, /configs) in CI.
FROM scratch
COPY target/x86_64-unknown-linux-musl/release/molecule-mcp /molecule-mcp
USER 65534:65534
# BuildKit creates a missing WORKDIR owned by USER: the state directory is
# the process's own, and a named volume mounted there inherits that.
WORKDIR /configs
ENV CONFIGS_DIR=/configs
VOLUME ["/configs"]
ENTRYPOINT ["/molecule-mcp"]

//! Which molecule-mcp binary the black-box tests run.

use std::path::PathBuf;

/// Names another build of the binary to test instead of cargo's own (e.g.
/// the static musl release build: `make test-static`).
pub const OVERRIDE: &str = "MOLECULE_MCP_TEST_BINARY";

/// The binary under test: `$MOLECULE_MCP_TEST_BINARY` when set, else the
/// one cargo built for these tests.
pub fn bin() -> PathBuf {
    match std::env::var_os(OVERRIDE) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{OVERRIDE}={} is not a file",
                path.display()
            );
            path
        }
        _ => PathBuf::from(env!("CARGO_BIN_EXE_molecule-mcp")),
    }
}

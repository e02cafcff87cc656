//! What every black-box test shares: the binary's path, a throwaway
//! directory, a running binary with its pipes, and the platform simulator.
//!
//! Each test crate uses a different subset, hence the blanket allowance.
#![allow(dead_code)]

mod child;
pub mod sim;
mod tempdir;

use std::path::PathBuf;

#[allow(unused_imports)]
pub use child::Child;
#[allow(unused_imports)]
pub use tempdir::TempDir;

/// The binary under test, built by cargo for integration tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_molecule-mcp"))
}

/// Polls `check` every 10 ms until it holds or `timeout` passes; returns
/// whether it held. For state that changes without a new request arriving.
pub fn eventually(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

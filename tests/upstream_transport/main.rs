//! The upstream transports against real processes and real loopback
//! servers: stdio children (a POSIX sh fixture, `fixture.sh` beside this file)
//! and Streamable HTTP servers on 127.0.0.1 (`support/loopback.rs`).

#[path = "../support/mod.rs"]
mod support;

mod http;
mod stdio;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;

/// Generous per-call timeout for calls that are expected to succeed.
pub const CALL: Duration = Duration::from_secs(10);

/// A cancel channel that never fires (its sender is kept alive).
pub struct NoCancel {
    _tx: crossbeam_channel::Sender<()>,
    pub rx: Receiver<()>,
}

pub fn no_cancel() -> NoCancel {
    let (tx, rx) = crossbeam_channel::bounded(0);
    NoCancel { _tx: tx, rx }
}

/// Polls `check` every 10 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A unique directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "molecule-mcp-transport-{tag}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        if let Err(e) = std::fs::create_dir_all(&path) {
            panic!("cannot create {}: {e}", path.display());
        }
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

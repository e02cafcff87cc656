//! The upstream transports against real processes and real loopback
//! servers: stdio children (a POSIX sh fixture, `fixture.sh` beside this file)
//! and Streamable HTTP servers on 127.0.0.1 (`support/loopback.rs`).

#[path = "../support/mod.rs"]
mod support;

mod http;
mod stdio;

use std::time::Duration;

use crossbeam_channel::Receiver;

use support::{eventually, TempDir};

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

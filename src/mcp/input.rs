//! The thread that reads the input and routes each line as it comes, so a
//! request reaches its worker with no hand-off in between. It is the only
//! one that blocks on the input, so the server can stop while a read is
//! still pending (it is then left behind, and routes nothing more).

use super::router::Router;
use crate::lines::{Line, LineReader};
use crossbeam_channel::{bounded, Receiver};
use std::io::{self, BufReader, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

/// Starts the reader. The returned channel disconnects once it has ended:
/// at the end of the input, when reading fails (logged), or when it finds
/// the server stopped.
pub(crate) fn spawn_reader<R: Read + Send + 'static>(
    input: R,
    max_line_bytes: usize,
    mut router: Router,
) -> io::Result<Receiver<()>> {
    let (ended_tx, ended) = bounded::<()>(0);
    thread::Builder::new()
        .name("mcp-reader".into())
        // Parses lines (serde_json stops at 128 levels of nesting), routes
        // them and answers `tools/list` from the upstreams' definitions,
        // which nest deeper.
        .stack_size(crate::threads::JSON_STACK)
        .spawn(move || {
            // Dropped however the thread ends, a panic included.
            let _ended = ended_tx;
            let mut lines =
                LineReader::new(BufReader::with_capacity(64 * 1024, input), max_line_bytes);
            loop {
                let line = match lines.next_line() {
                    Ok(Some(line)) => line,
                    Ok(None) => return,
                    Err(e) => {
                        log::warn!("cannot read from the client any more ({e}); shutting down");
                        return;
                    }
                };
                if router.is_closed() {
                    return;
                }
                let routed = catch_unwind(AssertUnwindSafe(|| match line {
                    Line::Complete(line) => router.line(&line),
                    Line::TooLong { length } => router.too_long(length, max_line_bytes),
                }));
                if routed.is_err() {
                    log::error!("routing an input line panicked; the line was skipped");
                }
            }
        })?;
    Ok(ended)
}

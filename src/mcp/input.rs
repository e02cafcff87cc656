//! The thread that reads the input. It is the only one that blocks on it, so
//! the server can stop while a read is still pending (it is then left behind).

use super::line_reader::{Line, LineReader};
use crossbeam_channel::{bounded, Receiver};
use std::io::{self, BufReader, Read};
use std::thread;

/// Lines read ahead of the server; each may be as long as the line cap.
const READ_AHEAD: usize = 2;

/// Starts the reader. The channel disconnects at the end of the input (or
/// when reading fails, which is logged).
pub(crate) fn spawn_reader<R: Read + Send + 'static>(
    input: R,
    max_line_bytes: usize,
) -> io::Result<Receiver<Line>> {
    let (tx, rx) = bounded(READ_AHEAD);
    thread::Builder::new()
        .name("mcp-reader".into())
        .spawn(move || {
            let mut lines =
                LineReader::new(BufReader::with_capacity(64 * 1024, input), max_line_bytes);
            loop {
                match lines.next_line() {
                    Ok(Some(line)) => {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        log::warn!("cannot read from the client any more ({e}); shutting down");
                        return;
                    }
                }
            }
        })?;
    Ok(rx)
}

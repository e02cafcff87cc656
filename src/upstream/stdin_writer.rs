//! The one thread that writes to a stdio server's stdin. Callers queue
//! messages instead of writing themselves, so a server that stops reading
//! (a full pipe) blocks only this thread, never a caller past its timeout.

use std::io::Write;
use std::process::ChildStdin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::error::CallError;
use super::stdio::Link;

pub enum Outgoing {
    /// One JSON-RPC message, serialized on one line. `id` for our requests:
    /// skipped when nobody waits for it any more, failed on a write error.
    Message { line: String, id: Option<u64> },
    /// Our answer to one of the server's own requests; counted, so that a
    /// server asking faster than it reads cannot grow the queue without end.
    Answer { line: String },
    /// Close stdin: the polite way to ask a stdio server to leave.
    Close,
}

pub fn run(mut stdin: ChildStdin, queue: Receiver<Outgoing>, link: Arc<Link>) {
    let mut broken: Option<String> = None;
    for outgoing in queue.iter() {
        let (line, id) = match outgoing {
            Outgoing::Close => break,
            Outgoing::Message { line, id } => (line, id),
            Outgoing::Answer { line } => {
                link.answers_queued.fetch_sub(1, Ordering::SeqCst);
                (line, None)
            }
        };
        if let Some(id) = id {
            if !link.pending.mark_sent(id) {
                continue;
            }
        }
        let written = match &broken {
            Some(why) => Err(why.clone()),
            None => write_line(&mut stdin, &line),
        };
        if let Err(why) = written {
            if let Some(id) = id {
                link.pending
                    .complete(id, Err(CallError::transport(why.clone(), false)));
            }
            if broken.is_none() {
                log::debug!("{}: {why}", link.name);
            }
            broken = Some(why);
        }
    }
    // Dropping stdin here closes the pipe.
}

fn write_line(stdin: &mut ChildStdin, line: &str) -> Result<(), String> {
    stdin
        .write_all(line.as_bytes())
        .and_then(|()| stdin.write_all(b"\n"))
        .and_then(|()| stdin.flush())
        .map_err(|e| format!("writing to the server's stdin failed: {}", e.kind()))
}

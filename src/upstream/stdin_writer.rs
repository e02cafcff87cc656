//! Writing to a stdio server's stdin: one writer thread per child owns the
//! pipe and writes whole lines, one at a time, from two bounded queues. So
//! lines never interleave, and a server that stops reading (a full pipe)
//! holds up the writer only, and only until the connection ends (the pipe
//! is non-blocking, see `stdin_pipe`): a caller waits for room in the queue
//! and for its answer within its own timeout, and our answers to the
//! server's own requests never wait for room (their queue holds as many as
//! may be counted at once), so the stdout reader that queues them is never
//! held up by a full stdin.

use std::process::ChildStdin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{bounded, select, Receiver, Sender};

use super::error::CallError;
use super::stdin_pipe::{StdinPipe, Stopped};
use super::stdio::ChildLink;

/// Our requests and notifications that may wait for the writer at once;
/// a caller finding the queue full waits for room within its timeout.
const QUEUED_LINES: usize = 64;
/// Answers to the server's requests that may be on their way at once
/// (relayed to the agent or waiting for the writer); the stdout reader
/// skips requests beyond it.
pub const MAX_QUEUED_ANSWERS: usize = 256;

/// One of our own messages.
pub struct Line {
    pub text: String,
    /// For a request: skipped when nobody waits for it any more by its
    /// turn, failed on a write error.
    pub id: Option<u64>,
}

/// The ends the session and the stdout reader write to.
pub struct Queues {
    pub lines: Sender<Line>,
    /// Our answers to the server's own requests, counted in
    /// `ChildLink::answers_queued` from the moment the request arrives.
    pub answers: Sender<String>,
}

/// The writer thread's ends.
pub struct Writer {
    lines: Receiver<Line>,
    answers: Receiver<String>,
}

pub fn queues() -> (Queues, Writer) {
    let (lines, queued_lines) = bounded(QUEUED_LINES);
    let (answers, queued_answers) = bounded(MAX_QUEUED_ANSWERS);
    (
        Queues { lines, answers },
        Writer {
            lines: queued_lines,
            answers: queued_answers,
        },
    )
}

/// The writer thread: writes each queued line whole until the connection
/// ends, then closes stdin (the polite way to ask a stdio server to leave),
/// at once even when a line still waits for room in the pipe.
pub fn run(pipe: ChildStdin, link: Arc<ChildLink>, writer: Writer) {
    // Once broken, why: every later request fails with it. A pipe left
    // blocking could hold this thread for good, so it counts as broken.
    let mut pipe = StdinPipe::new(pipe).map_err(|e| {
        let why = format!("the server's stdin could not be set up: {}", e.kind());
        log::debug!("{}: {why}", link.name);
        why
    });
    loop {
        let (text, id) = select! {
            recv(writer.lines) -> line => match line {
                Ok(line) => (line.text, line.id),
                Err(_) => break,
            },
            recv(writer.answers) -> answer => match answer {
                Ok(text) => {
                    link.answers_queued.fetch_sub(1, Ordering::SeqCst);
                    (text, None)
                }
                Err(_) => break,
            },
            recv(link.ended) -> _ => break,
        };
        // Timed out or cancelled before its turn: not written at all.
        if id.is_some_and(|id| !link.pending.mark_sent(id)) {
            continue;
        }
        let failed = match &mut pipe {
            Ok(open) => match write_line(open, text, &link.ended) {
                Ok(()) => None,
                Err(Stop::Ended) => break,
                Err(Stop::Broken(why)) => {
                    log::debug!("{}: {why}", link.name);
                    pipe = Err(why.clone());
                    Some(why)
                }
            },
            Err(why) => Some(why.clone()),
        };
        if let (Some(why), Some(id)) = (failed, id) {
            link.pending
                .complete(id, Err(CallError::transport(why, false)));
        }
    }
    drop(pipe);
    // Nothing waits for these any more; the count stays true.
    for _ in writer.answers.try_iter() {
        link.answers_queued.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a line was not written.
enum Stop {
    /// The connection ended first.
    Ended,
    Broken(String),
}

/// One message and its newline; waits while the pipe is full and the
/// connection lasts.
fn write_line(pipe: &mut StdinPipe, text: String, ended: &Receiver<()>) -> Result<(), Stop> {
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    pipe.write_all(&bytes, ended)
        .map_err(|stopped| match stopped {
            Stopped::Ended => Stop::Ended,
            Stopped::Failed(e) => Stop::Broken(format!(
                "writing to the server's stdin failed: {}",
                e.kind()
            )),
        })
}

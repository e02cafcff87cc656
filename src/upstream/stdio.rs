//! The stdio transport: one child process per session, JSON-RPC lines on
//! its stdin and stdout, its stderr drained into our log.
//!
//! Threads per session: a stdin writer (the only one that writes to the
//! child), a stdout reader, a stderr drain and a reaper. None of them holds
//! the session itself, so dropping the last handle runs `close()` and
//! nothing outlives it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use serde_json::Value;

use super::error::CallError;
use super::event_queue::EventQueue;
use super::jsonrpc_client::{self, Outcome, Pending};
use super::process_group::{self, Launch, ProcessGroup};
use super::session::Session;
use super::stderr_tail::StderrTail;
use super::stdin_writer::{self, Line, Queues, Writer};
use super::stdout_reader;
use crate::config::EnvMap;

/// How long a dead child's stderr may take to close after its stdout did.
const STDERR_GRACE: Duration = Duration::from_millis(300);

/// What the session's threads share about the child.
pub struct ChildLink {
    pub name: String,
    pub pending: Pending,
    pub events: EventQueue,
    /// Answers to the server's requests waiting for the writer.
    pub answers_queued: AtomicUsize,
    /// Dropped when the connection ends, which makes `closed()` ready.
    closed: Mutex<Option<Sender<()>>>,
    /// Ready once the connection has ended.
    pub ended: Receiver<()>,
}

impl ChildLink {
    /// The connection is gone: waiting and later requests fail with
    /// `error`, and `closed()` becomes ready. The first end wins.
    pub fn end(&self, error: CallError) {
        self.pending.end(error);
        crate::sync::lock(&self.closed).take();
    }
}

/// What to start, already `${VAR}`-expanded.
pub struct Spawn<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub cwd: Option<&'a Path>,
}

pub struct StdioSession {
    link: Arc<ChildLink>,
    /// Our requests and notifications, to the writer thread.
    lines: Sender<Line>,
    group: ProcessGroup,
    events: Receiver<Value>,
    closed: Receiver<()>,
    info: OnceLock<Value>,
    stderr: Arc<StderrTail>,
    next_id: AtomicU64,
    closing: AtomicBool,
}

impl StdioSession {
    /// Starts the server process; `ours` is our own environment, of which
    /// only the harmless part is passed on.
    pub fn start(name: &str, what: Spawn<'_>, ours: &EnvMap) -> Result<StdioSession, CallError> {
        let (closed_tx, closed) = bounded::<()>(0);
        let link = Arc::new(ChildLink {
            name: name.to_string(),
            pending: Pending::new(),
            events: EventQueue::new(name),
            answers_queued: AtomicUsize::new(0),
            closed: Mutex::new(Some(closed_tx)),
            ended: closed.clone(),
        });
        let on_exit = {
            let link = link.clone();
            move |how: String| {
                log::debug!("{}: the server process {how}", link.name);
                link.end(CallError::transport(
                    format!("the server process {how}"),
                    true,
                ));
            }
        };
        let launch = Launch {
            name,
            command: what.command,
            args: what.args,
            env: process_group::child_environment(ours, what.env),
            cwd: what.cwd,
        };
        let spawned = process_group::spawn(launch, on_exit)?;
        let group = spawned.group;
        let (queues, writer) = stdin_writer::queues();
        let stderr = Arc::new(StderrTail::new());
        let lines = queues.lines.clone();
        let threads = start_threads(
            name,
            &link,
            &stderr,
            (spawned.stdin, spawned.stdout, spawned.stderr),
            (queues, writer),
        );
        let session = StdioSession {
            events: link.events.receiver(),
            link,
            lines,
            group,
            closed,
            info: OnceLock::new(),
            stderr,
            next_id: AtomicU64::new(1),
            closing: AtomicBool::new(false),
        };
        if let Err(e) = threads {
            // Dropping the session ends the process group.
            drop(session);
            return Err(CallError::Spawn {
                detail: format!("no thread could be started for the server: {}", e.kind()),
                permanent: false,
            });
        }
        Ok(session)
    }

    /// The process id of the server (its process group id too).
    pub fn pid(&self) -> u32 {
        self.group.pid()
    }

    /// Records what `initialize` answered.
    pub fn set_info(&self, info: Value) {
        let _ = self.info.set(info);
    }

    /// Queues a line unless the queue is full (the server stopped reading);
    /// for messages nobody waits for.
    fn send_now(&self, text: String) -> bool {
        self.lines.try_send(Line { text, id: None }).is_ok()
    }

    /// Stops waiting for `id` and tells the server, unless the answer won
    /// the race, in which case that answer is returned.
    fn give_up(
        &self,
        id: u64,
        method: &str,
        answer: &Receiver<Outcome>,
        reason: &str,
        error: CallError,
    ) -> Outcome {
        match self.link.pending.remove(id) {
            Some(sent) => {
                // The spec forbids cancelling `initialize`; the session is
                // closed instead.
                if sent && method != "initialize" {
                    let notice = jsonrpc_client::cancelled(id, reason);
                    // A server that reads nothing would not read it either.
                    self.send_now(notice.to_string());
                }
                Err(error)
            }
            None => answer.try_recv().unwrap_or(Err(error)),
        }
    }
}

type Pipes = (
    std::process::ChildStdin,
    std::process::ChildStdout,
    std::process::ChildStderr,
);

fn start_threads(
    name: &str,
    link: &Arc<ChildLink>,
    tail: &Arc<StderrTail>,
    (stdin, stdout, stderr): Pipes,
    (queues, writer): (Queues, Writer),
) -> std::io::Result<()> {
    let writer_link = link.clone();
    thread::Builder::new()
        .name(format!("stdin-{name}"))
        .spawn(move || stdin_writer::run(stdin, writer_link, writer))?;
    let reader_link = link.clone();
    let answers = queues.answers;
    thread::Builder::new()
        .name(format!("stdout-{name}"))
        .stack_size(crate::threads::JSON_STACK)
        .spawn(move || stdout_reader::run(stdout, reader_link, answers))?;
    let tail = tail.clone();
    let owner = name.to_string();
    thread::Builder::new()
        .name(format!("stderr-{name}"))
        .spawn(move || tail.drain(&owner, stderr))?;
    Ok(())
}

impl Session for StdioSession {
    fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancel: &Receiver<()>,
    ) -> Outcome {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let answer = self.link.pending.register(id)?;
        let text = jsonrpc_client::request(id, method, params).to_string();
        let deadline = Instant::now().checked_add(timeout);
        // The queue is full only while the server reads nothing: the wait
        // for room is part of the call's own timeout.
        let queued = select! {
            send(self.lines, Line { text, id: Some(id) }) -> sent => sent.map_err(|_| CallError::Closed),
            recv(cancel) -> _ => Err(CallError::Cancelled),
            default(timeout) => Err(CallError::Timeout),
        };
        if let Err(error) = queued {
            self.link.pending.remove(id);
            return Err(error);
        }
        let timeout = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        select! {
            recv(answer) -> got => got.unwrap_or_else(|_| {
                Err(CallError::transport("the answer was lost", true))
            }),
            recv(cancel) -> _ => self.give_up(id, method, &answer, "cancelled by the client", CallError::Cancelled),
            default(timeout) => self.give_up(id, method, &answer, "timeout", CallError::Timeout),
        }
    }

    fn notify(&self, method: &str, params: Value) -> Result<(), CallError> {
        if self.link.pending.is_ended() {
            return Err(if self.closing.load(Ordering::SeqCst) {
                CallError::Closed
            } else {
                CallError::transport("the server is gone", false)
            });
        }
        let text = jsonrpc_client::notification(method, params).to_string();
        match self.lines.try_send(Line { text, id: None }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(CallError::transport(
                "the server does not read its stdin",
                false,
            )),
            Err(TrySendError::Disconnected(_)) => Err(CallError::Closed),
        }
    }

    fn events(&self) -> Receiver<Value> {
        self.events.clone()
    }

    fn closed(&self) -> Receiver<()> {
        self.closed.clone()
    }

    fn info(&self) -> &Value {
        self.info.get().unwrap_or(&Value::Null)
    }

    fn close(&self) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        // The writer closes stdin once the link has ended.
        self.link.end(CallError::Closed);
        self.group.terminate();
    }

    fn stderr_tail(&self) -> Vec<String> {
        // Asked when the transport died: the child's last lines may still
        // be on their way through the other pipe.
        self.stderr.last_words(STDERR_GRACE)
    }
}

impl Drop for StdioSession {
    fn drop(&mut self) {
        self.close();
    }
}

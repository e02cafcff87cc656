//! The stdio server: one thread reads lines and routes them, a pool of
//! workers runs whatever may block, one writer owns the output, and this one
//! watches for the end (input closed, shutdown signal, output failed).
//!
//! Choices where the protocol leaves room:
//! - Requests before `initialize` are served anyway: some hosts pipeline.
//!   Notifications of ours are held until `initialize` is answered.
//! - When `max_in_flight` requests (or `max_in_flight_bytes` of them) are
//!   running or queued, a new one is answered at once with `-32000` (server
//!   busy) instead of blocking the reader; `initialize`, `ping` and
//!   cancellations never count against it. A tool call whose group is full
//!   gets a busy tool result (`isError`), which the agent can act on.
//! - A request the client cancelled gets no answer (MCP: the receiver should
//!   not answer). One cancelled by shutdown still has its answer written if
//!   the handler gives it within the grace period.
//! - At the end of the input, requests still queued are run with their
//!   context already cancelled, so quick ones (a listing) are still answered.

use super::handler::Handler;
use super::input::spawn_reader;
use super::outbox::{Outbox, Outgoing};
use super::pool::Pool;
use super::router::{HangupProbe, Limits, Router};
use super::writer::Writer;
use crossbeam_channel::{select, Receiver, RecvTimeoutError};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the writer gets, after the workers, to write what is queued.
const WRITER_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The most threads running handler calls (default 32); they start on
    /// demand and end when idle.
    pub workers: usize,
    /// Requests running or queued at once before new ones are refused (default 256).
    pub max_in_flight: usize,
    /// Bytes of the lines of those requests before new ones are refused
    /// (default 64 MiB); one request alone may exceed it.
    pub max_in_flight_bytes: usize,
    /// Tool calls of one group (`Handler::call_group`) at once (default 8).
    pub max_per_group: usize,
    /// Tool calls of all groups together at once (default 24): at least
    /// `workers` minus this stay for calls of no group.
    pub max_grouped: usize,
    /// Longest accepted input line in bytes (default 16 MiB).
    pub max_line_bytes: usize,
    /// How long shutdown waits for cancelled requests to finish (default 1 s).
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: 32,
            max_in_flight: 256,
            max_in_flight_bytes: 64 << 20,
            max_per_group: 8,
            max_grouped: 24,
            max_line_bytes: 16 << 20,
            shutdown_grace: Duration::from_millis(1000),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The input reached its end (or could not be read).
    InputClosed,
    /// The shutdown signal fired.
    Shutdown,
    /// The output could not be written any more.
    OutputClosed,
    /// A thread of the server could not be started.
    StartFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeEnd {
    pub reason: EndReason,
    /// Workers still inside a handler call when the grace period ran out.
    pub abandoned_workers: usize,
    /// Whether every queued line was written before the end.
    pub output_flushed: bool,
}

/// A server not yet serving: its outbox can be handed out first, so that
/// whatever sends notifications can be built before the handler.
pub struct Server {
    options: ServerOptions,
    outbox: Outbox,
    lines: Receiver<Outgoing>,
    hangup: Option<HangupProbe>,
}

impl Server {
    pub fn new(options: ServerOptions) -> Self {
        let (outbox, lines) = Outbox::channel();
        Server {
            options,
            outbox,
            lines,
            hangup: None,
        }
    }

    /// `probe` tells whether the client has closed the input, without
    /// reading it. It is asked while an answer waits for room in a full
    /// output, so that the end of the input is noticed even while the
    /// client reads no answers (the reader cannot see it then).
    pub fn watch_hangup(mut self, probe: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.hangup = Some(Arc::new(probe));
        self
    }

    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// Serves until the input ends, `shutdown` becomes ready (a message or
    /// its senders all dropped) or the output fails. On return every request
    /// was cancelled, workers had `shutdown_grace` to finish (those that did
    /// not are left behind) and what was queued for the output was written,
    /// unless the output was stuck for longer than half a second.
    pub fn serve<R, W>(
        self,
        input: R,
        output: W,
        handler: Arc<dyn Handler>,
        shutdown: Receiver<()>,
    ) -> ServeEnd
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let Server {
            options,
            outbox,
            lines,
            hangup,
        } = self;
        let start_failed = |what: &str, e: std::io::Error| {
            log::error!("cannot start the MCP server's {what} thread: {e}");
            ServeEnd {
                reason: EndReason::StartFailed,
                abandoned_workers: 0,
                output_flushed: false,
            }
        };
        let mut writer = match Writer::spawn(output, lines) {
            Ok(writer) => writer,
            Err(e) => return start_failed("writer", e),
        };
        let (pool, in_flight) = Pool::spawn(
            options.workers.max(1),
            handler.clone(),
            outbox.clone(),
            Limits {
                requests: options.max_in_flight,
                bytes: options.max_in_flight_bytes,
                per_group: options.max_per_group,
                grouped: options.max_grouped,
            },
        );
        let mut router = Router::new(handler, outbox, in_flight, shutdown.clone());
        if let Some(probe) = hangup {
            router.watch_hangup(probe);
        }
        let input = match spawn_reader(input, options.max_line_bytes.max(1), router) {
            Ok(input) => input,
            Err(e) => {
                pool.stop(Instant::now());
                writer.stop();
                return start_failed("reader", e);
            }
        };

        let reason = select! {
            recv(input) -> _ => EndReason::InputClosed,
            recv(shutdown) -> _ => EndReason::Shutdown,
            recv(writer.ended) -> _ => EndReason::OutputClosed,
        };
        log::debug!("MCP server stopping: {reason:?}");

        // Cancels every request in flight and admits no more.
        let abandoned_workers = pool.stop(Instant::now() + options.shutdown_grace);
        if abandoned_workers > 0 {
            log::warn!(
                "{abandoned_workers} requests did not end within {:?} of shutdown; leaving them behind",
                options.shutdown_grace
            );
        }
        writer.stop();
        let output_flushed = match writer.ended.recv_timeout(WRITER_GRACE) {
            Err(RecvTimeoutError::Disconnected) => writer.join(),
            _ => {
                log::warn!("the output is not being read; unwritten answers are dropped");
                false
            }
        };
        // A reader still blocked on its input is left behind; it ends with the process.
        drop(input);
        ServeEnd {
            reason,
            abandoned_workers,
            output_flushed,
        }
    }
}

/// `Server::new(options).serve(...)`, for callers that need no outbox beforehand.
pub fn serve<R, W>(
    input: R,
    output: W,
    handler: Arc<dyn Handler>,
    options: ServerOptions,
    shutdown: Receiver<()>,
) -> ServeEnd
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    Server::new(options).serve(input, output, handler, shutdown)
}

//! The stdio server: one thread reads lines and routes them, a pool of
//! workers runs whatever may block, one writer owns the output, and this one
//! watches for the end (input closed, shutdown signal, output failed).
//!
//! Choices where the protocol leaves room:
//! - Requests before `initialize` are served anyway: some hosts pipeline.
//!   Notifications of ours are held until `initialize` is answered.
//! - When `max_in_flight` requests are running or queued, a new one is
//!   answered at once with `-32000` (server busy) instead of blocking the
//!   reader; `initialize`, `ping` and cancellations never count against it.
//! - A request the client cancelled gets no answer (MCP: the receiver should
//!   not answer). One cancelled by shutdown still has its answer written if
//!   the handler gives it within the grace period.
//! - At the end of the input, requests still queued are run with their
//!   context already cancelled, so quick ones (a listing) are still answered.

use super::handler::Handler;
use super::input::spawn_reader;
use super::outbox::{Outbox, Outgoing};
use super::pool::Pool;
use super::router::Router;
use super::writer::Writer;
use crossbeam_channel::{select, Receiver, RecvTimeoutError};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the writer gets, after the workers, to write what is queued.
const WRITER_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Threads running handler calls (default 16).
    pub workers: usize,
    /// Requests running or queued at once before new ones are refused (default 256).
    pub max_in_flight: usize,
    /// Longest accepted input line in bytes (default 16 MiB).
    pub max_line_bytes: usize,
    /// How long shutdown waits for cancelled requests to finish (default 1 s).
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: 16,
            max_in_flight: 256,
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
}

impl Server {
    pub fn new(options: ServerOptions) -> Self {
        let (outbox, lines) = Outbox::channel();
        Server {
            options,
            outbox,
            lines,
        }
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
            options.max_in_flight.max(1),
        );
        let router = Router::new(handler, outbox, in_flight, shutdown.clone());
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

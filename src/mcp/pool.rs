//! The request workers: a fixed set of threads that run handler calls, which
//! may block, so the thread reading the input never does.

use super::cancel::CancelReason;
use super::context::CallContext;
use super::handler::Handler;
use super::jsonrpc::{error_line, result_line, RpcError};
use super::outbox::{Outbox, Outgoing};
use super::router::InFlight;
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use serde_json::{json, Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// What a request asks a worker to do, its params already checked.
pub(crate) enum Work {
    /// Only while start-up is pending; later lists are answered at once.
    ListTools,
    CallTool {
        name: String,
        arguments: Map<String, Value>,
    },
    ListResources,
    ListResourceTemplates,
    ReadResource {
        uri: String,
    },
    ListPrompts,
    SetLogLevel {
        level: String,
    },
    Subscribe {
        uri: String,
        subscribe: bool,
    },
    Complete {
        params: Value,
    },
    GetPrompt {
        name: String,
        arguments: Map<String, Value>,
    },
}

impl Work {
    fn method(&self) -> &'static str {
        match self {
            Work::ListTools => "tools/list",
            Work::CallTool { .. } => "tools/call",
            Work::ListResources => "resources/list",
            Work::ListResourceTemplates => "resources/templates/list",
            Work::ReadResource { .. } => "resources/read",
            Work::ListPrompts => "prompts/list",
            Work::SetLogLevel { .. } => "logging/setLevel",
            Work::Subscribe {
                subscribe: true, ..
            } => "resources/subscribe",
            Work::Subscribe { .. } => "resources/unsubscribe",
            Work::Complete { .. } => "completion/complete",
            Work::GetPrompt { .. } => "prompts/get",
        }
    }

    fn run(self, handler: &dyn Handler, ctx: &CallContext) -> Result<Value, RpcError> {
        match self {
            Work::ListTools => {
                handler.wait_startup(ctx);
                Ok(json!({"tools": handler.list_tools()}))
            }
            Work::CallTool { name, arguments } => handler.call_tool(&name, arguments, ctx),
            Work::ListResources => handler
                .list_resources(ctx)
                .map(|list| json!({"resources": list})),
            Work::ListResourceTemplates => handler
                .list_resource_templates(ctx)
                .map(|list| json!({"resourceTemplates": list})),
            Work::ReadResource { uri } => handler.read_resource(&uri, ctx),
            Work::ListPrompts => handler
                .list_prompts(ctx)
                .map(|list| json!({"prompts": list})),
            Work::GetPrompt { name, arguments } => handler.get_prompt(&name, arguments, ctx),
            Work::SetLogLevel { level } => handler.set_log_level(&level, ctx).map(|()| json!({})),
            Work::Subscribe { uri, subscribe } => {
                handler.subscribe(&uri, subscribe, ctx).map(|()| json!({}))
            }
            Work::Complete { params } => handler.complete(params, ctx),
        }
    }
}

pub(crate) struct Job {
    /// The request id as JSON text: the key the server tracks it under.
    pub(crate) key: String,
    pub(crate) work: Work,
    pub(crate) ctx: CallContext,
}

pub(crate) struct Pool {
    /// Holds the only way to queue jobs; closing it lets the workers end.
    in_flight: Arc<InFlight>,
    /// Disconnects once every worker has ended.
    alive: Receiver<()>,
    running: Arc<AtomicUsize>,
}

impl Pool {
    /// Starts `workers` threads, which take the jobs admitted into the
    /// returned table (at most `max_in_flight` at once). Each finished
    /// request leaves the table before its answer is queued, so the server
    /// forgets the id before the client can see the answer and reuse it.
    pub(crate) fn spawn(
        workers: usize,
        handler: Arc<dyn Handler>,
        outbox: Outbox,
        max_in_flight: usize,
    ) -> (Pool, Arc<InFlight>) {
        let (jobs, queue) = unbounded::<Job>();
        let in_flight = InFlight::new(jobs, max_in_flight);
        let (alive_tx, alive) = bounded::<()>(0);
        let running = Arc::new(AtomicUsize::new(0));
        for n in 0..workers {
            let worker = Worker {
                queue: queue.clone(),
                handler: handler.clone(),
                outbox: outbox.clone(),
                in_flight: in_flight.clone(),
            };
            let guard = Running::enter(&running, alive_tx.clone());
            if let Err(e) = thread::Builder::new()
                .name(format!("mcp-worker-{n}"))
                .spawn(move || worker.serve(guard))
            {
                log::warn!("started {n} of {workers} request workers: {e}");
                break;
            }
        }
        let pool = Pool {
            in_flight: in_flight.clone(),
            alive,
            running,
        };
        (pool, in_flight)
    }

    /// Cancels what is in flight, lets the workers finish what is queued
    /// and end; waits for them until `deadline`. Returns how many are still
    /// running (left behind).
    pub(crate) fn stop(self, deadline: Instant) -> usize {
        let Pool {
            in_flight,
            alive,
            running,
        } = self;
        in_flight.close();
        loop {
            match alive.recv_deadline(deadline) {
                Err(RecvTimeoutError::Disconnected) => return 0,
                Err(RecvTimeoutError::Timeout) => return running.load(Ordering::SeqCst),
                Ok(()) => continue,
            }
        }
    }
}

/// Counts a worker as running for as long as it lives, panics included.
struct Running {
    running: Arc<AtomicUsize>,
    _alive: Sender<()>,
}

impl Running {
    fn enter(running: &Arc<AtomicUsize>, alive: Sender<()>) -> Running {
        running.fetch_add(1, Ordering::SeqCst);
        Running {
            running: running.clone(),
            _alive: alive,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Worker {
    queue: Receiver<Job>,
    handler: Arc<dyn Handler>,
    outbox: Outbox,
    in_flight: Arc<InFlight>,
}

impl Worker {
    fn serve(self, _running: Running) {
        for Job { key, work, ctx } in self.queue.iter() {
            let method = work.method();
            // A request the client cancelled before it started is not run at all.
            let outcome = (ctx.cancel_token().reason() != Some(CancelReason::Client))
                .then(|| self.run(work, &ctx));
            self.in_flight.finished(&key);
            let Some(outcome) = outcome else { continue };
            // Per MCP, a request the client cancelled gets no answer.
            if ctx.cancel_token().reason() == Some(CancelReason::Client) {
                log::debug!(
                    "{method} {} was cancelled; its answer is dropped",
                    ctx.request_id()
                );
                continue;
            }
            let line = match outcome {
                Ok(result) => result_line(ctx.request_id(), result),
                Err(error) => error_line(ctx.request_id(), &error),
            };
            if !self.outbox.send(Outgoing::Answer(line)) {
                log::debug!(
                    "the answer to {method} {} was not sent: the output is closed",
                    ctx.request_id()
                );
            }
        }
    }

    fn run(&self, work: Work, ctx: &CallContext) -> Result<Value, RpcError> {
        let method = work.method();
        catch_unwind(AssertUnwindSafe(|| work.run(self.handler.as_ref(), ctx))).unwrap_or_else(|_| {
            log::error!("{method} {} panicked; answering with an internal error", ctx.request_id());
            Err(RpcError::internal(format!(
                "{method} failed unexpectedly; the server keeps running, so other requests still work"
            )))
        })
    }
}

//! The request workers: threads that run handler calls, which may block,
//! so the thread reading the input never does. They start on demand and
//! end when idle, so an idle process holds none.

use super::cancel::CancelReason;
use super::context::CallContext;
use super::handler::Handler;
use super::jsonrpc::{error_line, result_line, RpcError, ToolList};
use super::outbox::{Outbox, Outgoing};
use super::router::{InFlight, Limits};
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use serde_json::{json, Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

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

    /// The answer line.
    fn answer(self, handler: &dyn Handler, ctx: &CallContext) -> Result<String, RpcError> {
        let id = ctx.request_id();
        let result = match self {
            Work::ListTools => {
                handler.wait_startup(ctx);
                let tools = ToolList {
                    tools: handler.list_tools(),
                };
                return Ok(result_line(id, &tools));
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
        };
        result.map(|result| result_line(id, &result))
    }
}

pub(crate) struct Job {
    /// The request id as JSON text: the key the server tracks it under.
    pub(crate) key: String,
    pub(crate) work: Work,
    pub(crate) ctx: CallContext,
}

/// Stack of a worker: it serializes and drops upstream results nested up
/// to `upstream::oversized::MAX_DEPTH` levels.
const WORKER_STACK: usize = crate::threads::JSON_STACK;

/// How long a worker with nothing to do waits before it ends: an idle
/// process keeps no workers, a busy one keeps those it needs.
const IDLE_WORKER_LIFE: Duration = Duration::from_secs(5);

pub(crate) struct Pool {
    /// Holds the only way to queue jobs; closing it lets the workers end.
    in_flight: Arc<InFlight>,
    /// Disconnects once every worker has ended.
    alive: Receiver<()>,
    running: Arc<AtomicUsize>,
}

impl Pool {
    /// Creates the table requests are admitted into (at most
    /// `limits.max_in_flight` at once) and the crew that runs them: no
    /// thread at first, one more whenever a request finds every worker
    /// taken (up to `workers`), one fewer whenever one stays idle. Each
    /// finished request leaves the table before its answer is queued, so
    /// the server forgets the id before the client can see the answer and
    /// reuse it.
    pub(crate) fn spawn(
        workers: usize,
        handler: Arc<dyn Handler>,
        outbox: Outbox,
        limits: Limits,
    ) -> (Pool, Arc<InFlight>) {
        let (jobs, queue) = unbounded::<Job>();
        let (alive_tx, alive) = bounded::<()>(0);
        let running = Arc::new(AtomicUsize::new(0));
        let crew = Crew {
            jobs,
            queue,
            handler,
            outbox,
            alive: alive_tx,
            running: running.clone(),
            live: 0,
            max: workers.max(1),
            hired: 0,
        };
        let in_flight = InFlight::new(crew, limits);
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

/// What starts workers, kept in the in-flight table so that hiring and
/// admitting are decided under one lock; dropped when the table closes,
/// which lets the workers drain the queue and end.
pub(crate) struct Crew {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    handler: Arc<dyn Handler>,
    outbox: Outbox,
    alive: Sender<()>,
    running: Arc<AtomicUsize>,
    /// Workers started and not retired.
    live: usize,
    max: usize,
    /// Workers ever started, for their names.
    hired: usize,
}

impl Crew {
    /// Queues a job; false once the workers cannot take it.
    pub(crate) fn queue(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// Starts a worker when `admitted` requests outnumber the workers, so
    /// that a queued job never waits behind a running one while the crew
    /// may still grow.
    pub(crate) fn grow_for(&mut self, admitted: usize, in_flight: &Arc<InFlight>) {
        if admitted <= self.live || self.live >= self.max {
            return;
        }
        let worker = Worker {
            queue: self.queue.clone(),
            handler: self.handler.clone(),
            outbox: self.outbox.clone(),
            in_flight: in_flight.clone(),
        };
        let guard = Running::enter(&self.running, self.alive.clone());
        let spawned = thread::Builder::new()
            .name(format!("mcp-worker-{}", self.hired))
            .stack_size(WORKER_STACK)
            .spawn(move || worker.serve(guard));
        match spawned {
            Ok(_) => {
                self.live += 1;
                self.hired += 1;
            }
            // The job waits for a worker that is running now.
            Err(e) => log::warn!(
                "cannot start another request worker ({e}); {} serve",
                self.live
            ),
        }
    }

    /// Whether an idle worker may end: only while the others outnumber the
    /// requests admitted, so every queued job still has a free worker.
    pub(crate) fn retire(&mut self, admitted: usize) -> bool {
        if admitted < self.live {
            self.live -= 1;
            true
        } else {
            false
        }
    }
}

/// Requests finished since start; every [`TRIM_EVERY_REQUESTS`]th hands
/// freed memory back, so a server that is never idle does too.
static FINISHED: AtomicUsize = AtomicUsize::new(1);
const TRIM_EVERY_REQUESTS: usize = 10_000;

/// glibc keeps what a long-running server frees inside its arenas, and the
/// chunks many short calls free are scattered, so little is returned at
/// the top of a heap: measured over a 10-minute soak, the bytes in use
/// stayed flat while RSS crept up (10.2 -> 12.0 MiB). `malloc_trim` also
/// releases the free pages inside each arena. Called when the pool shrinks
/// after a burst and every 10 000 requests: no thread and no timer of its
/// own.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory, under the arenas'
    // own locks.
    unsafe {
        libc::malloc_trim(0);
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
        loop {
            let Job { key, work, ctx } = match self.queue.recv_timeout(IDLE_WORKER_LIFE) {
                Ok(job) => job,
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) if self.in_flight.retire() => {
                    // The pool shrinks: the burst that grew it is over.
                    give_back_freed_memory();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => continue,
            };
            let method = work.method();
            // A request the client cancelled before it started is not run at all.
            let outcome = (ctx.cancel_token().reason() != Some(CancelReason::Client))
                .then(|| self.run(work, &ctx));
            self.in_flight.finished(&key);
            if FINISHED.fetch_add(1, Ordering::Relaxed) % TRIM_EVERY_REQUESTS == 0 {
                give_back_freed_memory();
            }
            let Some(outcome) = outcome else { continue };
            // Per MCP, a request the client cancelled gets no answer.
            if ctx.cancel_token().reason() == Some(CancelReason::Client) {
                log::debug!(
                    "{method} {} was cancelled; its answer is dropped",
                    ctx.request_id()
                );
                continue;
            }
            let line = outcome.unwrap_or_else(|error| error_line(ctx.request_id(), &error));
            if !self.outbox.send(Outgoing::Answer(line)) {
                log::debug!(
                    "the answer to {method} {} was not sent: the output is closed",
                    ctx.request_id()
                );
            }
        }
    }

    fn run(&self, work: Work, ctx: &CallContext) -> Result<String, RpcError> {
        let method = work.method();
        catch_unwind(AssertUnwindSafe(|| work.answer(self.handler.as_ref(), ctx))).unwrap_or_else(|_| {
            log::error!("{method} {} panicked; answering with an internal error", ctx.request_id());
            Err(RpcError::internal(format!(
                "{method} failed unexpectedly; the server keeps running, so other requests still work"
            )))
        })
    }
}

//! Decides what each incoming message gets: an answer at once (initialize,
//! ping, errors), a worker (anything that may block), or an effect on a
//! request in flight (cancellation). Runs on the thread that reads the input,
//! so a request reaches its worker without a hand-off in between, and never
//! waits for a worker.

use super::cancel::{CancelReason, CancelToken};
use super::context::CallContext;
use super::handler::Handler;
use super::jsonrpc::{
    self, error_line, is_valid_id, params_object, result_line, Incoming, RpcError, ToolList,
    SERVER_BUSY,
};
use super::outbox::{Outbox, Outgoing};
use super::pool::{Crew, Job, Work};
use super::version;
use crossbeam_channel::Receiver;
use serde_json::{json, Map, Value};
use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

/// The requests on a worker or queued for one, shared by the router (which
/// admits and cancels), the workers (which forget what they finished) and the
/// server (which closes it at shutdown). Every critical section is short:
/// nothing under the lock waits for anything.
pub(crate) struct InFlight {
    table: Mutex<Table>,
    limits: Limits,
}

/// What the in-flight table admits at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Requests.
    pub(crate) requests: usize,
    /// Bytes of the lines those requests came in (their ids and arguments
    /// stay in memory until they are answered).
    pub(crate) bytes: usize,
    /// Tool calls of one group (see `Handler::call_group`).
    pub(crate) per_group: usize,
    /// Tool calls of all groups together.
    pub(crate) grouped: usize,
}

struct Table {
    /// By id as JSON text.
    requests: HashMap<String, Admitted>,
    /// The bytes of every admitted request.
    bytes: usize,
    /// Running calls by group.
    groups: HashMap<String, usize>,
    /// The workers; `None` once closed, so that they end even while the
    /// router lives on in a reader blocked on its input.
    crew: Option<Crew>,
}

struct Admitted {
    token: CancelToken,
    bytes: usize,
    group: Option<String>,
}

/// Why a request was not admitted.
enum Refusal {
    Duplicate,
    Busy(usize),
    TooManyBytes(usize),
    GroupFull(String, usize),
    Closed,
}

impl InFlight {
    pub(crate) fn new(crew: Crew, limits: Limits) -> Arc<InFlight> {
        Arc::new(InFlight {
            table: Mutex::new(Table {
                requests: HashMap::new(),
                bytes: 0,
                groups: HashMap::new(),
                crew: Some(crew),
            }),
            limits: Limits {
                requests: limits.requests.max(1),
                bytes: limits.bytes.max(1),
                per_group: limits.per_group.max(1),
                grouped: limits.grouped.max(1),
            },
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        crate::sync::lock(&self.table)
    }

    /// Admits a request and queues its job, under one lock so that a
    /// cancellation or the shutdown never misses it.
    fn admit(
        self: &Arc<Self>,
        key: String,
        token: &CancelToken,
        job: Job,
        bytes: usize,
        group: Option<String>,
    ) -> Result<(), Refusal> {
        let mut table = self.lock();
        if table.requests.contains_key(&key) {
            return Err(Refusal::Duplicate);
        }
        if table.requests.len() >= self.limits.requests {
            return Err(Refusal::Busy(table.requests.len()));
        }
        // One request alone may use the whole budget, so that any line the
        // reader accepts can be served when nothing else is.
        if !table.requests.is_empty() && table.bytes + bytes > self.limits.bytes {
            return Err(Refusal::TooManyBytes(table.bytes));
        }
        if let Some(group) = &group {
            let running = table.groups.get(group).copied().unwrap_or(0);
            let grouped: usize = table.groups.values().sum();
            if running >= self.limits.per_group || grouped >= self.limits.grouped {
                return Err(Refusal::GroupFull(group.clone(), running));
            }
        }
        let admitted = table.requests.len() + 1;
        let Some(crew) = &mut table.crew else {
            return Err(Refusal::Closed);
        };
        if !crew.queue(job) {
            return Err(Refusal::Closed);
        }
        crew.grow_for(admitted, self);
        if let Some(group) = &group {
            *table.groups.entry(group.clone()).or_insert(0) += 1;
        }
        table.bytes += bytes;
        let token = token.clone();
        table.requests.insert(
            key,
            Admitted {
                token,
                bytes,
                group,
            },
        );
        Ok(())
    }

    /// Called by a worker before it queues the answer: the client may reuse
    /// an id as soon as it has read the answer.
    pub(crate) fn finished(&self, key: &str) {
        let mut table = self.lock();
        let Some(done) = table.requests.remove(key) else {
            return;
        };
        table.bytes -= done.bytes;
        if let Some(group) = done.group {
            if let Some(running) = table.groups.get_mut(&group) {
                *running -= 1;
                if *running == 0 {
                    table.groups.remove(&group);
                }
            }
        }
    }

    /// Whether a worker that found nothing to do may end now.
    pub(crate) fn retire(&self) -> bool {
        let mut table = self.lock();
        let admitted = table.requests.len();
        // Once closed, workers drain the queue and end when it disconnects.
        table
            .crew
            .as_mut()
            .is_some_and(|crew| crew.retire(admitted))
    }

    fn cancel(&self, key: &str) -> bool {
        match self.lock().requests.get(key) {
            Some(admitted) => {
                admitted.token.cancel(CancelReason::Client);
                true
            }
            None => false,
        }
    }

    /// Admits nothing more and cancels every request in flight; their
    /// answers, if quick, still go out.
    pub(crate) fn close(&self) {
        let mut table = self.lock();
        table.crew = None;
        for admitted in table.requests.values() {
            admitted.token.cancel(CancelReason::Shutdown);
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().crew.is_none()
    }
}

/// Tells whether the client has closed the input (see `Server::watch_hangup`).
pub type HangupProbe = Arc<dyn Fn() -> bool + Send + Sync>;

pub(crate) struct Router {
    handler: Arc<dyn Handler>,
    outbox: Outbox,
    in_flight: Arc<InFlight>,
    /// The shutdown signal: an answer never waits for room past it.
    stop: Receiver<()>,
    /// Whether the client has closed the input, for a router blocked on a
    /// full output: the end of the input must be noticed even then.
    hung_up: Option<HangupProbe>,
    /// Set once `hung_up` said so: nothing more is routed.
    input_gone: Cell<bool>,
    /// The length of the line being routed: what its request holds in
    /// memory until answered.
    line_bytes: usize,
}

impl Router {
    pub(crate) fn new(
        handler: Arc<dyn Handler>,
        outbox: Outbox,
        in_flight: Arc<InFlight>,
        stop: Receiver<()>,
    ) -> Self {
        Router {
            handler,
            outbox,
            in_flight,
            stop,
            line_bytes: 0,
            hung_up: None,
            input_gone: Cell::new(false),
        }
    }

    pub(crate) fn watch_hangup(&mut self, probe: HangupProbe) {
        self.hung_up = Some(probe);
    }

    /// Whether the server has stopped: nothing more is routed.
    pub(crate) fn is_closed(&self) -> bool {
        self.input_gone.get() || self.in_flight.is_closed()
    }

    pub(crate) fn line(&mut self, line: &[u8]) {
        self.line_bytes = line.len();
        match jsonrpc::parse_line(line) {
            Incoming::Request { id, method, params } => {
                let answer_id = id.clone();
                if catch_unwind(AssertUnwindSafe(|| self.request(id, &method, params))).is_err() {
                    log::error!("serving {method:.80} panicked; answering with an internal error");
                    let error = RpcError::internal(format!(
                        "{method:.80} failed unexpectedly; the server keeps running"
                    ));
                    self.answer(&answer_id, Err(error));
                }
            }
            Incoming::Notification { method, params } => self.notification(&method, params),
            Incoming::Response(message) => {
                if !super::agent::agent().answered(message) {
                    log::debug!("ignored an answer to no request of ours still waiting");
                }
            }
            Incoming::Invalid { id, error } => {
                log::debug!("rejected a message: {}", error.message);
                self.answer(&id, Err(error));
            }
            Incoming::Blank => {}
        }
    }

    pub(crate) fn too_long(&mut self, length: usize, limit: usize) {
        log::warn!("skipped an input line of {length} bytes (limit {limit})");
        let error = RpcError::invalid_request(format!(
            "the message is {length} bytes long, more than the limit of {limit} bytes; it was skipped"
        ));
        self.answer(&Value::Null, Err(error));
    }

    fn request(&mut self, id: Value, method: &str, params: Value) {
        let progress_token = params
            .pointer("/_meta/progressToken")
            .filter(|token| is_valid_id(token))
            .cloned();
        let work = match method {
            "initialize" => return self.initialize(&id, params),
            "ping" => return self.answer(&id, Ok(json!({}))),
            // While upstreams make their first connect attempt, a worker
            // waits for them; after that, answered from memory at once.
            "tools/list" if self.handler.startup_pending() => Ok(Work::ListTools),
            "tools/list" => {
                let tools = ToolList {
                    tools: self.handler.list_tools(),
                };
                return self.send(Outgoing::Answer(result_line(&id, &tools)));
            }
            "tools/call" => tool_call(params),
            // Methods of a capability we did not announce do not exist for the client.
            "resources/list"
            | "resources/templates/list"
            | "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
                if !self.handler.has_resources() =>
            {
                Err(RpcError::method_not_found(method))
            }
            "prompts/list" | "prompts/get" if !self.handler.has_prompts() => {
                Err(RpcError::method_not_found(method))
            }
            "resources/list" => Ok(Work::ListResources),
            "resources/templates/list" => Ok(Work::ListResourceTemplates),
            "resources/read" => resource_read(params),
            "resources/subscribe" | "resources/unsubscribe" => {
                resource_read(params).map(|work| match work {
                    Work::ReadResource { uri } => Work::Subscribe {
                        uri,
                        subscribe: method == "resources/subscribe",
                    },
                    other => other,
                })
            }
            "prompts/list" => Ok(Work::ListPrompts),
            "prompts/get" => prompt_get(params),
            "logging/setLevel" => {
                let mut params = match params_object(params) {
                    Ok(params) => params,
                    Err(error) => return self.answer(&id, Err(error)),
                };
                required_string(&mut params, "level").map(|level| Work::SetLogLevel { level })
            }
            "completion/complete" => match params_object(params) {
                Ok(params) if params.get("ref").is_some_and(Value::is_object) => {
                    Ok(Work::Complete {
                        params: Value::Object(params),
                    })
                }
                Ok(_) => Err(RpcError::invalid_params("\"ref\" must be an object")),
                Err(error) => Err(error),
            },
            // The stateless revision's entry point; see version.rs.
            "server/discover" => Err(RpcError::method_not_found(
                "server/discover (this server speaks the initialize handshake)",
            )),
            _ => Err(RpcError::method_not_found(&format!("{method:.80}"))),
        };
        match work {
            Ok(work) => {
                let group = match &work {
                    Work::CallTool { name, .. } => self.handler.call_group(name),
                    _ => None,
                };
                self.submit(id, progress_token, work, group)
            }
            Err(error) => self.answer(&id, Err(error)),
        }
    }

    fn initialize(&self, id: &Value, params: Value) {
        let params = match params_object(params) {
            Ok(params) => params,
            Err(error) => return self.answer(id, Err(error)),
        };
        let version = version::negotiate(params.get("protocolVersion").and_then(Value::as_str));
        self.handler.on_initialize(&params, version);
        let result = json!({
            "protocolVersion": version,
            "capabilities": self.handler.capabilities(),
            "serverInfo": {"name": "molecule", "version": env!("CARGO_PKG_VERSION")},
            "instructions": self.handler.instructions(),
        });
        let client = params
            .get("clientInfo")
            .and_then(|info| info.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("unnamed");
        log::info!("client {client:.64} initialized; speaking protocol {version}");
        self.send(Outgoing::InitializeAnswer(result_line(id, &result)));
    }

    fn submit(
        &mut self,
        id: Value,
        progress_token: Option<Value>,
        work: Work,
        group: Option<String>,
    ) {
        let key = id.to_string();
        let token = CancelToken::new();
        let ctx = CallContext::new(
            id.clone(),
            progress_token,
            token.clone(),
            self.outbox.clone(),
        );
        let job = Job {
            key: key.clone(),
            work,
            ctx,
        };
        let error = match self.in_flight.admit(key, &token, job, self.line_bytes, group) {
            Ok(()) => return,
            // The tool exists and the agent may simply retry: a tool
            // result it can read, not a protocol error.
            Err(Refusal::GroupFull(group, running)) => {
                log::debug!("refused a call to {group:.120}: {running} already running");
                return self.answer(&id, Ok(busy_result(&group, running)));
            }
            Err(Refusal::TooManyBytes(bytes)) => RpcError::new(
                SERVER_BUSY,
                format!(
                    "server busy: the requests in flight hold {bytes} bytes; retry when one has finished"
                ),
            ),
            Err(Refusal::Duplicate) => RpcError::invalid_request(
                "this id belongs to a request still in flight; ids must be unique",
            ),
            Err(Refusal::Busy(count)) => RpcError::new(
                SERVER_BUSY,
                format!("server busy: {count} requests are in flight; retry when one has finished"),
            ),
            Err(Refusal::Closed) => {
                log::debug!("a request arrived while the server is stopping");
                RpcError::internal("the server is stopping; no worker takes new requests")
            }
        };
        self.answer(&id, Err(error));
    }

    fn notification(&mut self, method: &str, params: Value) {
        match method {
            "notifications/cancelled" => {
                let Some(request_id) = params.get("requestId").filter(|id| is_valid_id(id)) else {
                    log::debug!("ignored a cancellation without a usable requestId");
                    return;
                };
                if self.in_flight.cancel(&request_id.to_string()) {
                    log::debug!("request {request_id} cancelled by the client");
                } else {
                    log::debug!("cancellation of request {request_id}, which is not in flight");
                }
            }
            "notifications/initialized" => log::debug!("the client is ready"),
            "notifications/roots/list_changed" => self.handler.roots_changed(),
            _ => log::debug!("ignored notification {method:.80}"),
        }
    }

    fn answer(&self, id: &Value, outcome: Result<Value, RpcError>) {
        let line = match outcome {
            Ok(result) => result_line(id, &result),
            Err(error) => error_line(id, &error),
        };
        self.send(Outgoing::Answer(line));
    }

    fn send(&self, line: Outgoing) {
        let sent = match &self.hung_up {
            Some(probe) => {
                let gone = || {
                    let gone = probe();
                    if gone {
                        log::info!(
                            "the client closed its input while not reading answers; stopping"
                        );
                        self.input_gone.set(true);
                    }
                    gone
                };
                self.outbox.send_unless_either(line, &self.stop, &gone)
            }
            None => self.outbox.send_unless(line, &self.stop),
        };
        if !sent {
            log::debug!("an answer was not sent: the output is closed or the server is stopping");
        }
    }
}

/// The `isError` result of a call refused because its group is full.
fn busy_result(group: &str, running: usize) -> Value {
    let text = format!(
        "Busy: {running} calls to {group:.120} are already running, the most allowed at once so \
         that other tools keep working. Retry when one of them has finished."
    );
    crate::tools::result::failure(text)
}

fn tool_call(params: Value) -> Result<Work, RpcError> {
    let mut params = params_object(params)?;
    let name = required_string(&mut params, "name")?;
    let arguments = arguments(&mut params)?;
    Ok(Work::CallTool { name, arguments })
}

fn resource_read(params: Value) -> Result<Work, RpcError> {
    let mut params = params_object(params)?;
    let uri = required_string(&mut params, "uri")?;
    Ok(Work::ReadResource { uri })
}

fn prompt_get(params: Value) -> Result<Work, RpcError> {
    let mut params = params_object(params)?;
    let name = required_string(&mut params, "name")?;
    let arguments = arguments(&mut params)?;
    Ok(Work::GetPrompt { name, arguments })
}

fn required_string(params: &mut Map<String, Value>, key: &str) -> Result<String, RpcError> {
    match params.remove(key) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(RpcError::invalid_params(format!(
            "\"{key}\" must be a string"
        ))),
        None => Err(RpcError::invalid_params(format!("\"{key}\" is missing"))),
    }
}

/// `arguments` absent or null is no arguments, not an error.
fn arguments(params: &mut Map<String, Value>) -> Result<Map<String, Value>, RpcError> {
    match params.remove("arguments") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(arguments)) => Ok(arguments),
        Some(_) => Err(RpcError::invalid_params("\"arguments\" must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::jsonrpc::INVALID_PARAMS;

    #[test]
    fn tool_call_params_are_checked_before_any_worker_sees_them() {
        let refused = [
            json!([]),
            json!({}),
            json!({"name": 5}),
            json!({"name": null}),
            json!({"name": "echo", "arguments": "x"}),
            json!({"name": "echo", "arguments": [1]}),
            json!({"name": "echo", "arguments": 3}),
        ];
        for params in refused {
            assert_eq!(
                tool_call(params.clone()).err().map(|e| e.code),
                Some(INVALID_PARAMS),
                "{params}"
            );
        }
        for params in [
            json!({"name": "echo"}),
            json!({"name": "echo", "arguments": null}),
        ] {
            match tool_call(params.clone()) {
                Ok(Work::CallTool { name, arguments }) => {
                    assert!(name == "echo" && arguments.is_empty(), "{params}")
                }
                _ => panic!("{params} was refused"),
            }
        }
        match tool_call(json!({"name": "echo", "arguments": {"a": 1}})) {
            Ok(Work::CallTool { arguments, .. }) => assert_eq!(arguments.get("a"), Some(&json!(1))),
            _ => panic!("arguments were refused"),
        }
    }

    #[test]
    fn resource_and_prompt_params_are_checked() {
        assert_eq!(
            resource_read(json!({})).err().map(|e| e.code),
            Some(INVALID_PARAMS)
        );
        assert_eq!(
            resource_read(json!({"uri": 1})).err().map(|e| e.code),
            Some(INVALID_PARAMS)
        );
        assert!(
            matches!(resource_read(json!({"uri": "file:///a"})), Ok(Work::ReadResource { uri }) if uri == "file:///a")
        );
        assert_eq!(
            prompt_get(json!({"name": "p", "arguments": "x"}))
                .err()
                .map(|e| e.code),
            Some(INVALID_PARAMS)
        );
        assert!(
            matches!(prompt_get(json!({"name": "p"})), Ok(Work::GetPrompt { name, .. }) if name == "p")
        );
    }
}

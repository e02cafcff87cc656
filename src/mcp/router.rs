//! Decides what each incoming message gets: an answer at once (initialize,
//! ping, errors), a worker (anything that may block), or an effect on a
//! request in flight (cancellation). Runs on the server's own thread and
//! never waits for a worker.

use super::cancel::{CancelReason, CancelToken};
use super::context::CallContext;
use super::handler::Handler;
use super::jsonrpc::{
    self, error_line, is_valid_id, params_object, result_line, Incoming, RpcError, SERVER_BUSY,
};
use super::outbox::{Outbox, Outgoing};
use super::pool::{Job, Pool, Work};
use super::version;
use crossbeam_channel::Receiver;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

pub(crate) struct Router<'a> {
    handler: Arc<dyn Handler>,
    outbox: Outbox,
    pool: &'a Pool,
    /// Requests on a worker or queued for one, by id as JSON text.
    in_flight: HashMap<String, CancelToken>,
    finished: Receiver<String>,
    max_in_flight: usize,
    /// The shutdown signal: an answer never waits for room past it.
    stop: Receiver<()>,
}

impl<'a> Router<'a> {
    pub(crate) fn new(
        handler: Arc<dyn Handler>,
        outbox: Outbox,
        pool: &'a Pool,
        finished: Receiver<String>,
        max_in_flight: usize,
        stop: Receiver<()>,
    ) -> Self {
        Router {
            handler,
            outbox,
            pool,
            in_flight: HashMap::new(),
            finished,
            max_in_flight,
            stop,
        }
    }

    pub(crate) fn line(&mut self, line: &[u8]) {
        // Forget finished requests first: the client may reuse an id as soon
        // as it has read the answer, and the worker reported before answering.
        self.forget_finished();
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
            Incoming::Response => log::debug!("ignored a response: this server sends no requests"),
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

    pub(crate) fn finished(&mut self, key: &str) {
        self.in_flight.remove(key);
    }

    /// Cancels every request in flight; their answers, if quick, still go out.
    pub(crate) fn cancel_all(&self) {
        for token in self.in_flight.values() {
            token.cancel(CancelReason::Shutdown);
        }
    }

    fn forget_finished(&mut self) {
        while let Ok(key) = self.finished.try_recv() {
            self.in_flight.remove(&key);
        }
    }

    fn request(&mut self, id: Value, method: &str, params: Value) {
        let progress_token = params
            .pointer("/_meta/progressToken")
            .filter(|token| is_valid_id(token))
            .cloned();
        let work = match method {
            "initialize" => return self.initialize(&id, params),
            "ping" => return self.answer(&id, Ok(json!({}))),
            "tools/list" => Ok(Work::ListTools),
            "tools/call" => tool_call(params),
            // Methods of a capability we did not announce do not exist for the client.
            "resources/list" | "resources/templates/list" | "resources/read"
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
            "prompts/list" => Ok(Work::ListPrompts),
            "prompts/get" => prompt_get(params),
            // The stateless revision's entry point; see version.rs.
            "server/discover" => Err(RpcError::method_not_found(
                "server/discover (this server speaks the initialize handshake)",
            )),
            _ => Err(RpcError::method_not_found(&format!("{method:.80}"))),
        };
        match work {
            Ok(work) => self.submit(id, progress_token, work),
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
        self.send(Outgoing::InitializeAnswer(result_line(id, result)));
    }

    fn submit(&mut self, id: Value, progress_token: Option<Value>, work: Work) {
        let key = id.to_string();
        if self.in_flight.contains_key(&key) {
            let error = RpcError::invalid_request(
                "this id belongs to a request still in flight; ids must be unique",
            );
            return self.answer(&id, Err(error));
        }
        if self.in_flight.len() >= self.max_in_flight {
            let error = RpcError::new(
                SERVER_BUSY,
                format!(
                    "server busy: {} requests are in flight; retry when one has finished",
                    self.in_flight.len()
                ),
            );
            return self.answer(&id, Err(error));
        }
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
        if self.pool.submit(job) {
            self.in_flight.insert(key, token);
        } else {
            log::error!("no request worker is left");
            let error = RpcError::internal("no worker is left to serve requests");
            self.answer(&id, Err(error));
        }
    }

    fn notification(&mut self, method: &str, params: Value) {
        match method {
            "notifications/cancelled" => {
                let Some(request_id) = params.get("requestId").filter(|id| is_valid_id(id)) else {
                    log::debug!("ignored a cancellation without a usable requestId");
                    return;
                };
                match self.in_flight.get(&request_id.to_string()) {
                    Some(token) => {
                        token.cancel(CancelReason::Client);
                        log::debug!("request {request_id} cancelled by the client");
                    }
                    None => {
                        log::debug!("cancellation of request {request_id}, which is not in flight")
                    }
                }
            }
            "notifications/initialized" => log::debug!("the client is ready"),
            _ => log::debug!("ignored notification {method:.80}"),
        }
    }

    fn answer(&self, id: &Value, outcome: Result<Value, RpcError>) {
        let line = match outcome {
            Ok(result) => result_line(id, result),
            Err(error) => error_line(id, &error),
        };
        self.send(Outgoing::Answer(line));
    }

    fn send(&self, line: Outgoing) {
        if !self.outbox.send_unless(line, &self.stop) {
            log::debug!("an answer was not sent: the output is closed or the server is stopping");
        }
    }
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

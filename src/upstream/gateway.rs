//! The gateway as the MCP server sees it: every configured upstream behind
//! its driver, their tools, resources and prompts merged under prefixed
//! names (gateway.md §5), and calls routed back to the right server.
//!
//! `start` returns at once: upstreams connect in the background and their
//! tools appear, with `notifications/tools/list_changed`, as they come up.

use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::agent_setup::AgentSetup;
use super::call::{self, Failure, Request};
use super::catalog::{Catalog, ListKind};
use super::config::{ServerEntry, ServerSpec};
use super::driver::{self, Settings};
use super::error::CallError;
use super::lease::{DriverHandle, Lease};
use super::naming;
use super::progress::{self, ProgressRelay};
use super::texts;
use crate::config::EnvMap;
use crate::machine::breaker::State;
use crate::machine::startup_wait::{Answer, Ask, Ended, StartupWait};
use crate::mcp::context::CallContext;
use crate::mcp::jsonrpc::{
    RpcError, INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, SERVER_BUSY,
};
use crate::mcp::outbox::Outbox;
use crate::redact::redact;
use crate::shutdown::Shutdown;
use crate::sync::{lock, read};
use crate::tools::result::failure;

/// Idle time after which a healthy upstream is pinged (gateway.md §5).
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(180);
/// The environment variable that changes it (seconds, fractions allowed).
pub const KEEPALIVE_VARIABLE: &str = "MOLECULE_MCP_KEEPALIVE_SECS";
/// How long the first lists wait for upstreams still making their first
/// connect attempt: a client that lists once, right after `initialize`,
/// should see every upstream that can come up.
pub const DEFAULT_STARTUP_WAIT: Duration = Duration::from_secs(10);
pub const STARTUP_WAIT_VARIABLE: &str = "MOLECULE_MCP_STARTUP_WAIT_SECS";
/// How often a waiting list looks at the upstreams again.
const STARTUP_POLL: Duration = Duration::from_millis(20);
/// What the agent tells every server at once (`logging/setLevel`): none
/// may hold the answer longer than this.
const BROADCAST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long such a message waits for a server that is still connecting.
const BROADCAST_CONNECT_WAIT: Duration = Duration::from_secs(5);
/// How long `shutdown` waits for the drivers to close their sessions.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a call waits for its lease on top of the connect timeout.
const LEASE_SLACK: Duration = Duration::from_secs(2);

pub struct Gateway {
    upstreams: Vec<Upstream>,
    catalog: Arc<RwLock<Catalog>>,
    progress: ProgressRelay,
    /// The agent's subscriptions and logging level, told again to a new
    /// session.
    setup: AgentSetup,
    /// To the agent: the latest progress of a call before its result.
    outbox: Outbox,
    shutdown: Shutdown,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Whether the first lists still wait for upstreams making their first
    /// connect attempt (spec/startup_wait.table).
    startup: Mutex<StartupWait>,
}

struct Upstream {
    name: String,
    /// `<clean name>__`, or the configured `prefix`: the start of every
    /// exposed name of this server.
    prefix: String,
    /// Its resource URIs are offered as `molecule://<server>/...`; with
    /// `prefix: ""` they are offered as the server gives them.
    maps_uris: bool,
    /// The server part of its resource URIs.
    clean: String,
    kind: Kind,
}

enum Kind {
    Running {
        driver: DriverHandle,
        spec: Box<ServerSpec>,
    },
    /// The servers file is wrong about this server: parked for good (the
    /// file is read once), reported in the log, by doctor, and to calls.
    Misconfigured(String),
    /// `enabled: false`.
    Disabled,
}

impl Gateway {
    /// Starts one driver per enabled, well-configured server; returns at
    /// once.
    pub fn start(
        entries: Vec<ServerEntry>,
        env: &EnvMap,
        outbox: Outbox,
        shutdown: &Shutdown,
    ) -> Gateway {
        let prefixes: Vec<(String, String)> = entries
            .iter()
            .map(|e| {
                let configured = e.spec.as_ref().ok().and_then(|s| s.prefix.clone());
                let prefix = configured.unwrap_or_else(|| naming::prefix(&e.name));
                (e.name.clone(), prefix)
            })
            .collect();
        let catalog = Arc::new(RwLock::new(Catalog::with_prefixes(&prefixes)));
        // Upstreams' requests to the agent go out this way.
        crate::mcp::agent::agent().attach(&outbox);
        let env = Arc::new(env.clone());
        let keepalive = seconds(&env, KEEPALIVE_VARIABLE, DEFAULT_KEEPALIVE, false);
        let startup_wait = seconds(&env, STARTUP_WAIT_VARIABLE, DEFAULT_STARTUP_WAIT, true);
        let startup = StartupWait::new(Instant::now(), startup_wait);
        let progress = ProgressRelay::default();
        let setup = AgentSetup::default();
        super::notices::attach_progress(&progress, &outbox);
        let mut threads = Vec::new();
        let mut upstreams = Vec::new();
        for ((index, entry), (_, prefix)) in entries.into_iter().enumerate().zip(prefixes) {
            let name = entry.name;
            let kind = match entry.spec {
                Err(reason) => {
                    log::warn!(
                        "upstream {name}: parked (configuration error: {}); fix the servers file \
                         and restart molecule-mcp",
                        redact(&reason)
                    );
                    Kind::Misconfigured(reason)
                }
                Ok(spec) if !spec.enabled => {
                    log::info!("upstream {name}: disabled in the servers file");
                    Kind::Disabled
                }
                Ok(spec) => {
                    let settings = Settings {
                        index,
                        name: name.clone(),
                        spec: spec.clone(),
                        env: env.clone(),
                        keepalive,
                        outbox: outbox.clone(),
                        catalog: catalog.clone(),
                        setup: setup.clone(),
                        shutdown: shutdown.clone(),
                    };
                    match driver::spawn(settings) {
                        Ok((driver, thread)) => {
                            threads.push(thread);
                            Kind::Running {
                                driver,
                                spec: Box::new(spec),
                            }
                        }
                        Err(e) => {
                            log::error!("upstream {name}: cannot start its thread: {e}");
                            Kind::Misconfigured(format!("cannot start its thread: {e}"))
                        }
                    }
                }
            };
            super::notices::set_mapped(&name, !prefix.is_empty());
            upstreams.push(Upstream {
                maps_uris: !prefix.is_empty(),
                prefix,
                clean: naming::clean(&name),
                name,
                kind,
            });
        }
        Gateway {
            progress,
            setup,
            outbox: outbox.clone(),
            upstreams,
            catalog,
            shutdown: shutdown.clone(),
            threads: Mutex::new(threads),
            startup: Mutex::new(startup),
        }
    }

    /// Whether some enabled upstream is still making its first connect
    /// attempt (and the start-up wait is not over).
    pub fn startup_pending(&self) -> bool {
        let mut startup = crate::sync::lock(&self.startup);
        if startup.is_over() {
            // Spares the look at every upstream on each later list.
            return false;
        }
        let untried = self.running().any(|(index, _, driver, _)| {
            let status = driver.status();
            let tried = self.read_catalog(|c| c.has_listed(index))
                || status.last_error.is_some()
                || status.state != State::Closed;
            !tried
        });
        match startup.handle(Ask { untried }, Instant::now()) {
            Answer::Wait => true,
            Answer::Go(ended) => {
                if ended == Some(Ended::WaitOver) {
                    log::debug!("the start-up wait is over with upstreams still connecting");
                }
                false
            }
        }
    }

    /// Waits until [`Gateway::startup_pending`] is over, or the request is
    /// cancelled.
    pub fn wait_startup(&self, ctx: &CallContext) {
        while self.startup_pending() {
            if ctx.cancelled().recv_timeout(STARTUP_POLL).is_ok() || ctx.is_cancelled() {
                return;
            }
        }
    }

    /// The tools of every server that is not parked.
    pub fn list_tools(&self) -> Vec<Box<RawValue>> {
        self.read_catalog(|c| c.tools())
    }

    /// Whether `name` is routed to an upstream.
    pub fn has_tool(&self, name: &str) -> bool {
        self.route_tool(name).is_some()
    }

    pub fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        let Some((index, tool, replayable)) = self.route_tool(name) else {
            return Err(RpcError::invalid_params(format!(
                "unknown tool: {name:.200}"
            )));
        };
        let upstream = &self.upstreams[index];
        let (driver, spec) = match &upstream.kind {
            Kind::Running { driver, spec } => (driver, spec),
            Kind::Misconfigured(reason) => {
                return Ok(failure(redact(&misconfigured(&upstream.name, reason))))
            }
            Kind::Disabled => {
                return Err(RpcError::invalid_params(format!(
                    "unknown tool: {name:.200}"
                )))
            }
        };
        // Progress the upstream reports for this call goes to the agent.
        let registration = ctx.progress_token().map(|t| self.progress.register(t));
        let mut params = json!({"name": tool, "arguments": arguments});
        if let Some(r) = &registration {
            params = progress::with_token(params, r.token());
        }
        let request = Request {
            method: "tools/call",
            params,
            replayable,
            timeout: spec.timeout,
            connect_wait: spec.connect_timeout + LEASE_SLACK,
            capability: None,
        };
        let what = format!("tool {tool}");
        let outcome = call::run(driver, request, ctx.cancelled());
        if let Some(registration) = &registration {
            registration.flush(&self.outbox);
        }
        match outcome {
            Ok(Some(mut result)) if result.is_object() => {
                if let Some(content) = result.get_mut("content").and_then(Value::as_array_mut) {
                    for item in content {
                        upstream.rename_content_uri(item);
                    }
                }
                Ok(result)
            }
            Ok(_) => Ok(failure(redact(&format!(
                "{}: {what} answered with something that is not a tool result; retrying will not help.",
                upstream.name
            )))),
            Err(Failure::Error {
                error: CallError::Rpc {
                    code, message, data, ..
                },
                reconnect: false,
            }) if code == INVALID_PARAMS || code == METHOD_NOT_FOUND => {
                let message = if code == METHOD_NOT_FOUND {
                    format!("{} does not know tool {tool:.200}", upstream.name)
                } else {
                    redact(&message)
                };
                let error = RpcError::new(INVALID_PARAMS, message);
                Err(match data {
                    Some(data) if code == INVALID_PARAMS => error.with_data(redact_data(&data)),
                    _ => error,
                })
            }
            Err(failed) => Ok(failure(redact(&self.failure_text(index, &what, &failed)))),
        }
    }

    /// The server a call of `name` goes to: calls in flight are capped per
    /// server, so that one hung server cannot take every worker.
    pub fn server_of(&self, name: &str) -> Option<&str> {
        self.route_tool(name)
            .map(|(index, _, _)| self.upstreams[index].name.as_str())
    }

    /// Resources and prompts are announced whenever some upstream may
    /// offer them: capabilities are fixed at `initialize`, before any
    /// upstream has answered, so the lists are simply empty until one does.
    pub fn has_resources(&self) -> bool {
        self.running().next().is_some()
    }

    pub fn has_prompts(&self) -> bool {
        self.running().next().is_some()
    }

    pub fn list_resources(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        Ok(self.merged(ListKind::Resources, ctx, |upstream, item| {
            upstream.rename_uri(item, "uri")?;
            upstream.prefix_name(item);
            Some(())
        }))
    }

    pub fn list_resource_templates(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        Ok(self.merged(ListKind::Templates, ctx, |upstream, item| {
            upstream.rename_uri(item, "uriTemplate")?;
            upstream.prefix_name(item);
            Some(())
        }))
    }

    pub fn read_resource(&self, uri: &str, ctx: &CallContext) -> Result<Value, RpcError> {
        let unknown = || RpcError::invalid_params(format!("unknown resource: {uri:.300}"));
        let (index, original) = self.route_uri(uri).ok_or_else(unknown)?;
        let params = json!({"uri": original});
        let mut result = self.single(index, "resources/read", params, "resources", ctx)?;
        if let Some(contents) = result.get_mut("contents").and_then(Value::as_array_mut) {
            for item in contents {
                self.upstreams[index].rename_uri(item, "uri");
            }
        }
        Ok(result)
    }

    pub fn list_prompts(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        Ok(self.merged(ListKind::Prompts, ctx, |upstream, item| {
            let name = item.get("name")?.as_str()?.to_string();
            let exposed = naming::with_prefix(&upstream.prefix, &upstream.name, &name);
            item.as_object_mut()?
                .insert("name".into(), Value::String(exposed));
            Some(())
        }))
    }

    pub fn get_prompt(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        let found = self.read_catalog(|c| c.find_prompt(name)).or_else(|| {
            let (index, rest) = self.by_prefix(name)?;
            Some((index, rest.to_string()))
        });
        let Some((index, original)) = found else {
            return Err(RpcError::invalid_params(format!(
                "unknown prompt: {name:.200}"
            )));
        };
        let params = json!({"name": original, "arguments": arguments});
        let mut result = self.single(index, "prompts/get", params, "prompts", ctx)?;
        if let Some(messages) = result.get_mut("messages").and_then(Value::as_array_mut) {
            for message in messages {
                if let Some(content) = message.get_mut("content") {
                    self.upstreams[index].rename_content_uri(content);
                }
            }
        }
        Ok(result)
    }

    /// The agent's roots changed: every connected upstream is told, from a
    /// thread of its own (an HTTP upstream is told by a POST).
    pub fn roots_changed(&self) {
        for (_, upstream, driver, spec) in self.running() {
            let status = driver.status();
            if !status.connected || status.state != State::Closed {
                continue;
            }
            let name = upstream.name.clone();
            let (driver, wait) = (
                driver.clone(),
                spec.connect_timeout.min(BROADCAST_CONNECT_WAIT),
            );
            let group = crate::threads::upstream(&name);
            let told = crate::threads::spawn(format!("roots-{name}"), &group, move || {
                // The lease is asked for here, not on the caller's
                // thread: a zero wait there lost the race with the
                // driver's answer and nobody was told.
                let Lease::Go { session, .. } = driver.admit(wait, &crossbeam_channel::never())
                else {
                    return;
                };
                let method = "notifications/roots/list_changed";
                if let Err(e) = session.notify(method, Value::Null) {
                    log::debug!("upstream {name}: telling it the roots changed failed: {e}");
                }
            });
            if told.is_err() {
                log::debug!(
                    "upstream {}: no thread to tell it the roots changed",
                    upstream.name
                );
            }
        }
    }

    /// `resources/subscribe` or `resources/unsubscribe`, routed by URI.
    pub fn subscribe(&self, method: &str, uri: &str, ctx: &CallContext) -> Result<(), RpcError> {
        let unknown = || RpcError::invalid_params(format!("unknown resource: {uri:.300}"));
        let (index, original) = self.route_uri(uri).ok_or_else(unknown)?;
        let subscribe = method == "resources/subscribe";
        if !subscribe {
            self.setup.subscribed(index, original, false);
        }
        self.single(index, method, json!({"uri": original}), "resources", ctx)?;
        if subscribe {
            self.setup.subscribed(index, original, true);
        }
        Ok(())
    }

    /// `logging/setLevel`: the level relayed to the agent from now on, also
    /// sent to every connected upstream that offers logging.
    pub fn set_log_level(&self, level: &str, ctx: &CallContext) -> Result<(), RpcError> {
        if !crate::mcp::agent::agent().set_level(level) {
            return Err(RpcError::invalid_params(format!(
                "unknown level {level:.40}; one of {}",
                crate::mcp::agent::LEVELS.join(", ")
            )));
        }
        self.setup.set_level(level);
        std::thread::scope(|scope| {
            for (index, upstream, driver, spec) in self.running() {
                let status = driver.status();
                if !status.connected || status.state != State::Closed {
                    continue;
                }
                scope.spawn(move || {
                    let request = Request {
                        method: "logging/setLevel",
                        params: json!({"level": level}),
                        replayable: true,
                        timeout: spec.timeout.min(BROADCAST_TIMEOUT),
                        connect_wait: spec.connect_timeout.min(BROADCAST_CONNECT_WAIT),
                        capability: Some("logging"),
                    };
                    if let Err(failure) = call::run(driver, request, ctx.cancelled()) {
                        log::debug!(
                            "upstream {}: logging/setLevel failed: {}",
                            upstream.name,
                            self.failure_text(index, "logging/setLevel", &failure)
                        );
                    }
                });
            }
        });
        Ok(())
    }

    /// `completion/complete`, routed by its `ref` (a prompt name or a
    /// resource template URI) to the server that owns it.
    pub fn complete(&self, mut params: Value, ctx: &CallContext) -> Result<Value, RpcError> {
        let kind = params
            .pointer("/ref/type")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (key, found) = match kind {
            "ref/prompt" => {
                let name = params
                    .pointer("/ref/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let found = self.read_catalog(|c| c.find_prompt(name)).or_else(|| {
                    let (index, rest) = self.by_prefix(name)?;
                    Some((index, rest.to_string()))
                });
                ("name", found)
            }
            "ref/resource" => {
                let uri = params
                    .pointer("/ref/uri")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let found = self.route_uri(uri).map(|(i, u)| (i, u.to_string()));
                ("uri", found)
            }
            other => {
                return Err(RpcError::invalid_params(format!(
                    "unknown ref type {other:.40}; ref/prompt or ref/resource"
                )))
            }
        };
        let Some((index, original)) = found else {
            return Err(RpcError::invalid_params("no server offers this ref"));
        };
        if let Some(reference) = params.get_mut("ref").and_then(Value::as_object_mut) {
            reference.insert(key.into(), Value::String(original));
        }
        self.single(index, "completion/complete", params, "completions", ctx)
    }

    /// Each configured server and its state, for doctor and the log.
    pub fn statuses(&self) -> Vec<(String, String)> {
        self.upstreams
            .iter()
            .map(|u| {
                let text = match &u.kind {
                    Kind::Misconfigured(reason) => {
                        format!("parked (configuration error: {})", redact(reason))
                    }
                    Kind::Disabled => "disabled".into(),
                    Kind::Running { driver, .. } => describe(&driver.status()),
                };
                (u.name.clone(), text)
            })
            .collect()
    }

    /// Ends every driver (this triggers the shutdown it was started with)
    /// and waits, bounded, for their sessions to close.
    pub fn shutdown(&self) {
        self.shutdown.trigger();
        let threads = std::mem::take(&mut *lock(&self.threads));
        crate::threads::join_within(threads, SHUTDOWN_GRACE);
    }

    fn running(&self) -> impl Iterator<Item = (usize, &Upstream, &DriverHandle, &ServerSpec)> {
        self.upstreams
            .iter()
            .enumerate()
            .filter_map(|(i, u)| match &u.kind {
                Kind::Running { driver, spec } => Some((i, u, driver, &**spec)),
                _ => None,
            })
    }

    fn read_catalog<T>(&self, f: impl FnOnce(&Catalog) -> T) -> T {
        f(&read(&self.catalog))
    }

    /// The server, upstream tool name and replayability behind `name`: a
    /// listed tool (hidden ones included, so a call revives a parked
    /// server), or, for a server that has not listed its tools yet, the name
    /// after its prefix.
    fn route_tool(&self, name: &str) -> Option<(usize, String, bool)> {
        if let Some(found) = self.read_catalog(|c| {
            c.find_tool(name)
                .map(|(i, t)| (i, t.upstream.clone(), t.replayable))
        }) {
            return Some(found);
        }
        let (index, rest) = self.by_prefix(name)?;
        let upstream = &self.upstreams[index];
        match &upstream.kind {
            Kind::Running { spec, .. } => {
                let listed = self.read_catalog(|c| c.tool_count(index)) > 0;
                (!listed && spec.tools.allows(rest)).then(|| (index, rest.to_string(), false))
            }
            Kind::Misconfigured(_) => Some((index, rest.to_string(), false)),
            Kind::Disabled => None,
        }
    }

    /// The server whose prefix starts `name` (the longest such), and the
    /// rest of the name.
    fn by_prefix<'n>(&self, name: &'n str) -> Option<(usize, &'n str)> {
        self.upstreams
            .iter()
            .enumerate()
            .filter(|(_, u)| name.len() > u.prefix.len() && name.starts_with(&u.prefix))
            .max_by_key(|(_, u)| u.prefix.len())
            .map(|(i, u)| (i, &name[u.prefix.len()..]))
    }

    /// The server and original URI behind a URI the agent read: a
    /// `molecule://<server>/...` URI of a server that maps its URIs, else a
    /// server that offers its URIs unchanged (the one that listed this URI,
    /// or the first).
    fn route_uri<'u>(&self, uri: &'u str) -> Option<(usize, &'u str)> {
        if let Some((server, original)) = naming::split_uri(uri) {
            if let Some(index) = self
                .upstreams
                .iter()
                .position(|u| u.maps_uris && u.clean == server)
            {
                return Some((index, original));
            }
        }
        let unmapped: Vec<usize> = self
            .upstreams
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.maps_uris)
            .map(|(i, _)| i)
            .collect();
        let listed = self.read_catalog(|c| c.find_resource(uri, &unmapped));
        listed.or(unmapped.first().copied()).map(|i| (i, uri))
    }

    /// One request to one server, answered as a JSON-RPC result or error.
    fn single(
        &self,
        index: usize,
        method: &str,
        params: Value,
        capability: &str,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        let upstream = &self.upstreams[index];
        let (driver, spec) = match &upstream.kind {
            Kind::Running { driver, spec } => (driver, spec),
            Kind::Misconfigured(reason) => {
                return Err(RpcError::new(
                    SERVER_BUSY,
                    misconfigured(&upstream.name, reason),
                ))
            }
            Kind::Disabled => return Err(RpcError::method_not_found(method)),
        };
        let request = Request {
            method,
            params,
            replayable: true,
            timeout: spec.timeout,
            connect_wait: spec.connect_timeout + LEASE_SLACK,
            capability: Some(capability),
        };
        match call::run(driver, request, ctx.cancelled()) {
            Ok(Some(result)) if result.is_object() => Ok(result),
            Ok(Some(_)) => Err(RpcError::internal(format!(
                "{} answered {method} with something that is not an object",
                upstream.name
            ))),
            Ok(None) => Err(RpcError::method_not_found(&format!(
                "{method} ({} offers no {capability})",
                upstream.name
            ))),
            Err(failure) => Err(self.rpc_error(index, method, &failure)),
        }
    }

    /// The last list of `kind` of every visible server, as the driver
    /// refreshed it, each item renamed by `rename` (items it refuses are
    /// left out). Answered from memory, as `tools/list` is: no server is
    /// asked, so one that is down or slow costs nothing.
    fn merged(
        &self,
        kind: ListKind,
        ctx: &CallContext,
        rename: impl Fn(&Upstream, &mut Value) -> Option<()>,
    ) -> Vec<Value> {
        self.wait_startup(ctx);
        self.read_catalog(|c| c.items(kind))
            .into_iter()
            .filter_map(|(index, mut item)| {
                rename(&self.upstreams[index], &mut item).map(|()| item)
            })
            .collect()
    }

    fn rpc_error(&self, index: usize, method: &str, failure: &Failure) -> RpcError {
        match failure {
            // The server's own answer (resource not found, bad arguments).
            Failure::Error {
                error:
                    CallError::Rpc {
                        code,
                        message,
                        data,
                        ..
                    },
                reconnect: false,
            } if *code != INTERNAL_ERROR => {
                let error = RpcError::new(*code, redact(message));
                match data {
                    Some(data) => error.with_data(redact_data(data)),
                    None => error,
                }
            }
            Failure::Rejected(_) | Failure::Stopped => {
                RpcError::new(SERVER_BUSY, self.failure_text(index, method, failure))
            }
            _ => RpcError::new(INTERNAL_ERROR, self.failure_text(index, method, failure)),
        }
    }

    fn failure_text(&self, index: usize, what: &str, failure: &Failure) -> String {
        let upstream = &self.upstreams[index];
        let Kind::Running { driver, spec } = &upstream.kind else {
            return texts::failure(&upstream.name, what, failure, 0.0);
        };
        match failure {
            Failure::Rejected(rejection) => {
                let status = driver.status();
                redact(&texts::rejection(
                    &upstream.name,
                    *rejection,
                    status.last_error.as_deref(),
                ))
            }
            _ => texts::failure(&upstream.name, what, failure, spec.timeout.as_secs_f64()),
        }
    }
}

impl Upstream {
    /// `item[key]` as the agent sees it; `None` when it is not a string.
    fn rename_uri(&self, item: &mut Value, key: &str) -> Option<()> {
        let uri = item.get(key)?.as_str()?;
        if self.maps_uris {
            let exposed = naming::expose_uri(&self.name, uri);
            item.as_object_mut()?
                .insert(key.into(), Value::String(exposed));
        }
        Some(())
    }

    fn prefix_name(&self, item: &mut Value) {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            return;
        };
        let prefixed = format!("{}{name}", self.prefix);
        if let Some(object) = item.as_object_mut() {
            object.insert("name".into(), Value::String(prefixed));
        }
    }

    /// The URI in a content block (an embedded resource or a resource
    /// link), so the agent can read it back through the gateway.
    fn rename_content_uri(&self, content: &mut Value) {
        match content.get("type").and_then(Value::as_str) {
            Some("resource") => {
                if let Some(resource) = content.get_mut("resource") {
                    self.rename_uri(resource, "uri");
                }
            }
            Some("resource_link") => {
                self.rename_uri(content, "uri");
            }
            _ => {}
        }
    }
}

fn misconfigured(server: &str, reason: &str) -> String {
    redact(&format!(
        "{server} is not configured correctly ({reason}); the operator must fix the servers file \
         and restart molecule-mcp; do not retry."
    ))
}

/// A driver's state in a few words.
pub fn describe(status: &super::lease::Status) -> String {
    let error = status
        .last_error
        .as_deref()
        .map(|e| format!("; last error: {e}"))
        .unwrap_or_default();
    match status.state {
        State::Closed if status.connected => format!("connected, {} tool(s)", status.tools),
        State::Closed => format!("connecting{error}"),
        State::Open => format!("open: unreachable, retrying{error}"),
        State::HalfOpen => format!("half-open: reconnecting{error}"),
        State::Parked(reason) => format!("parked ({reason}){error}"),
        State::Stopped => "stopped".into(),
    }
}

/// A duration in seconds from `variable` (fractions allowed; 0 only where
/// `zero` says so), or `default` with a warning when it is not one.
fn seconds(env: &EnvMap, variable: &str, default: Duration, zero: bool) -> Duration {
    let Some(raw) = env.get(variable) else {
        return default;
    };
    match raw
        .to_str()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| zero || !d.is_zero())
    {
        Some(d) => d,
        None => {
            let least = if zero { "0 or more" } else { "above 0" };
            log::warn!(
                "{variable} must be a number of seconds {least}; using {} s",
                default.as_secs()
            );
            default
        }
    }
}

/// An upstream's error `data`, passed on without the secrets it may quote.
/// Redacting the JSON text catches `"token": "..."` pairs as well as bare
/// values; should the masked text no longer parse, it goes on as a string.
fn redact_data(data: &Value) -> Value {
    let text = redact(&data.to_string());
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_upstream_errors_data_is_redacted() {
        let data = json!({
            "hint": "sent Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123",
            "token": "zyxwvutsrqponmlkjihgfedcba9876",
            "n": 3,
        });
        let clean = redact_data(&data);
        let text = clean.to_string();
        assert!(!text.contains("abcdefghijklmnopqrstuvwxyz0123"), "{text}");
        assert!(!text.contains("zyxwvutsrqponmlkjihgfedcba9876"), "{text}");
        assert_eq!(clean.get("n"), Some(&json!(3)), "{text}");
    }
}

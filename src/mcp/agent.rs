//! The agent on the other end of stdio, as upstream servers need it: what
//! it declared at `initialize` (client capabilities, the revision agreed),
//! and the requests an upstream sends it through us (sampling, elicitation,
//! roots, ping) under our own ids, each waiting for the agent's answer.
//!
//! Upstreams' log notes (`notifications/message`) go to it too, filtered by
//! the level it set with `logging/setLevel`.
//!
//! There is one agent per process, so this is one shared value: the
//! transports reach it without the per-upstream driver carrying it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};
use serde_json::{json, Map, Value};

use super::jsonrpc::{INTERNAL_ERROR, METHOD_NOT_FOUND};
use super::outbox::Outbox;

use crate::sync::{lock, wait_while};

/// What the agent said at `initialize`.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub capabilities: Value,
    pub protocol_version: String,
}

/// Log levels, least severe first (RFC 5424 as MCP names them).
pub const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];
/// Until the agent sets one: info and above.
const DEFAULT_LEVEL: usize = 1;

pub struct Agent {
    outbox: OnceLock<Outbox>,
    /// The least severe level relayed, as an index into [`LEVELS`].
    level: AtomicUsize,
    declared: Mutex<Option<Declared>>,
    changed: Condvar,
    /// Our requests waiting for the agent's answer, by our id.
    waiting: Mutex<HashMap<String, Sender<Value>>>,
    next_id: AtomicU64,
}

/// The process's agent.
pub fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(Agent::default)
}

/// The client capability a server-to-client method needs, if any.
fn needed_capability(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// The server-to-client requests we relay.
pub fn is_relayed(method: &str) -> bool {
    method == "ping" || needed_capability(method).is_some()
}

impl Default for Agent {
    fn default() -> Self {
        Agent {
            outbox: OnceLock::new(),
            level: AtomicUsize::new(DEFAULT_LEVEL),
            declared: Mutex::new(None),
            changed: Condvar::new(),
            waiting: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

fn rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| *l == level)
}

impl Agent {
    /// Where requests to the agent are written; the first one set stays.
    pub fn attach(&self, outbox: &Outbox) {
        let _ = self.outbox.set(outbox.clone());
    }

    pub fn initialized(&self, params: &Map<String, Value>, protocol_version: &str) {
        let capabilities = params
            .get("capabilities")
            .filter(|c| c.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        *lock(&self.declared) = Some(Declared {
            capabilities,
            protocol_version: protocol_version.to_string(),
        });
        self.changed.notify_all();
    }

    /// What the agent declared; waits up to `wait` for its `initialize`.
    /// `None` at once when no agent is served (doctor).
    pub fn declared(&self, wait: Duration) -> Option<Declared> {
        self.outbox.get()?;
        let declared = wait_while(&self.changed, lock(&self.declared), wait, |d| d.is_none());
        declared.clone()
    }

    /// The client capabilities an upstream may be told of: the ones we
    /// relay, as the agent declared them.
    pub fn relayed_capabilities(declared: &Declared) -> Value {
        let mut relayed = Map::new();
        for key in ["sampling", "elicitation", "roots"] {
            if let Some(value) = declared.capabilities.get(key).filter(|v| v.is_object()) {
                relayed.insert(key.into(), value.clone());
            }
        }
        Value::Object(relayed)
    }

    /// Asks the agent `method` for an upstream and waits for its answer:
    /// `Ok(result)` or `Err(error object)`. A capability the agent did not
    /// declare is refused at once; so is everything once the output is
    /// gone, `cancel` fires, or `timeout` passes.
    pub fn ask(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancel: &Receiver<()>,
    ) -> Result<Value, Value> {
        if let Some(capability) = needed_capability(method) {
            let declared = lock(&self.declared).clone();
            let granted = declared
                .as_ref()
                .and_then(|d| d.capabilities.get(capability));
            // URL-mode elicitation needs its own declaration; an empty
            // `elicitation` object means form mode only.
            let url_mode = method == "elicitation/create"
                && params.get("mode").and_then(Value::as_str) == Some("url");
            let offered = match granted {
                Some(granted) if url_mode => granted.get("url").is_some(),
                Some(_) => true,
                None => false,
            };
            if !offered {
                let capability = if url_mode {
                    "url-mode elicitation"
                } else {
                    capability
                };
                return Err(error(
                    METHOD_NOT_FOUND,
                    &format!("the client does not support {capability} ({method})"),
                ));
            }
        } else if method != "ping" {
            return Err(error(
                METHOD_NOT_FOUND,
                &format!("Method not found: {method:.100}"),
            ));
        }
        let Some(outbox) = self.outbox.get() else {
            return Err(error(INTERNAL_ERROR, "no client is connected"));
        };
        let id = format!("molecule-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = bounded(1);
        lock(&self.waiting).insert(id.clone(), tx);
        let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        let outcome = if outbox.request(message.to_string()) {
            select! {
                recv(rx) -> answer => match answer {
                    Ok(answer) => outcome(answer),
                    Err(_) => Err(error(INTERNAL_ERROR, "the client went away")),
                },
                recv(cancel) -> _ => Err(error(INTERNAL_ERROR, "the request was cancelled")),
                default(timeout) => Err(error(INTERNAL_ERROR, &format!(
                    "the client did not answer {method} within {} s", timeout.as_secs()))),
            }
        } else {
            Err(error(INTERNAL_ERROR, "the client's output is closed"))
        };
        if lock(&self.waiting).remove(&id).is_some() && outcome.is_err() {
            // Tell the agent to stop working on what nobody waits for.
            outbox.notify(
                "notifications/cancelled",
                json!({"requestId": id, "reason": "the server stopped waiting"}),
            );
        }
        outcome
    }

    /// A notification to the agent; false when it was not sent.
    pub fn notify(&self, method: &str, params: Value) -> bool {
        self.outbox
            .get()
            .is_some_and(|outbox| outbox.notify(method, params))
    }

    /// `logging/setLevel`: false for a level that does not exist.
    pub fn set_level(&self, level: &str) -> bool {
        match rank(level) {
            Some(rank) => {
                self.level.store(rank, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// An upstream's `notifications/message`, relayed when at or above the
    /// agent's level; the logger names the server (`server` or
    /// `server/logger`). Returns whether it was sent.
    pub fn log_from(&self, server: &str, params: &Value) -> bool {
        let Some(outbox) = self.outbox.get() else {
            return false;
        };
        let Some(mut params) = params.as_object().cloned() else {
            return false;
        };
        let level = params.get("level").and_then(Value::as_str).and_then(rank);
        if level.unwrap_or(DEFAULT_LEVEL) < self.level.load(Ordering::Relaxed) {
            return false;
        }
        let logger = match params.get("logger").and_then(Value::as_str) {
            Some(logger) => format!("{server}/{logger}"),
            None => server.to_string(),
        };
        params.insert("logger".into(), Value::String(logger));
        if level.is_none() {
            params.insert("level".into(), json!(LEVELS[DEFAULT_LEVEL]));
        }
        outbox.notify("notifications/message", Value::Object(params))
    }

    /// An answer from the agent: to one of our requests, else dropped.
    /// Returns whether someone waited for it.
    pub fn answered(&self, message: Value) -> bool {
        let Some(id) = message.get("id").and_then(Value::as_str) else {
            return false;
        };
        match lock(&self.waiting).remove(id) {
            Some(tx) => tx.send(message).is_ok(),
            None => false,
        }
    }
}

fn outcome(answer: Value) -> Result<Value, Value> {
    if let Some(result) = answer.get("result") {
        return Ok(result.clone());
    }
    match answer.get("error").filter(|e| e.is_object()) {
        Some(e) => Err(e.clone()),
        None => Err(error(INTERNAL_ERROR, "the client's answer had no result")),
    }
}

fn error(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::outbox::Outgoing;

    fn declared(capabilities: Value) -> Map<String, Value> {
        let mut params = Map::new();
        params.insert("capabilities".into(), capabilities);
        params
    }

    #[test]
    fn an_undeclared_capability_is_refused_at_once() {
        let agent = Agent::default();
        let (outbox, rx) = Outbox::channel();
        agent.attach(&outbox);
        agent.initialized(&declared(json!({"roots": {}})), "2025-11-25");
        let (_keep, never) = bounded::<()>(0);
        let refused = agent.ask(
            "sampling/createMessage",
            json!({}),
            Duration::from_secs(30),
            &never,
        );
        let error = refused.expect_err("refused");
        assert_eq!(error["code"], json!(METHOD_NOT_FOUND));
        assert!(rx.try_recv().is_err(), "nothing was sent to the agent");
    }

    #[test]
    fn url_mode_elicitation_needs_its_own_declaration() {
        let agent = Agent::default();
        let (outbox, rx) = Outbox::channel();
        agent.attach(&outbox);
        agent.initialized(&declared(json!({"elicitation": {}})), "2025-11-25");
        let (_keep, never) = bounded::<()>(0);
        let params = json!({"mode": "url", "url": "https://example.com/x", "message": "m"});
        let refused = agent.ask(
            "elicitation/create",
            params,
            Duration::from_secs(30),
            &never,
        );
        let error = refused.expect_err("refused");
        assert!(
            error["message"].as_str().unwrap_or("").contains("url-mode"),
            "{error}"
        );
        assert!(rx.try_recv().is_err(), "nothing was sent to the agent");
    }

    #[test]
    fn an_answer_reaches_the_asker_under_our_id() {
        let agent = std::sync::Arc::new(Agent::default());
        let (outbox, rx) = Outbox::channel();
        agent.attach(&outbox);
        agent.initialized(&declared(json!({"sampling": {}})), "2025-11-25");
        let asker = agent.clone();
        let asked = std::thread::spawn(move || {
            let (_keep, never) = bounded::<()>(0);
            asker.ask(
                "sampling/createMessage",
                json!({"maxTokens": 1}),
                Duration::from_secs(30),
                &never,
            )
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Outgoing::Notification(line)) => line,
            other => panic!("no request to the agent: {other:?}"),
        };
        let request: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(request["method"], "sampling/createMessage");
        assert!(!agent.answered(json!({"id": "other", "result": {}})));
        assert!(agent.answered(json!({"id": request["id"], "result": {"x": 1}})));
        let result = asked.join().expect("joined");
        assert_eq!(result, Ok(json!({"x": 1})));
    }

    #[test]
    fn log_notes_are_filtered_by_level_and_named_after_the_server() {
        let agent = Agent::default();
        let (outbox, rx) = Outbox::channel();
        agent.attach(&outbox);
        assert!(!agent.log_from("files", &json!({"level": "debug", "data": "x"})));
        assert!(agent.log_from("files", &json!({"level": "info", "data": "y"})));
        let line = rx.try_recv().expect("sent");
        let note: Value = serde_json::from_str(line.line()).expect("JSON");
        assert_eq!(
            note["params"],
            json!({"level": "info", "data": "y", "logger": "files"})
        );
        assert!(!agent.set_level("loud"));
        assert!(agent.set_level("error"));
        assert!(!agent.log_from("files", &json!({"level": "warning", "data": "z"})));
        assert!(agent.log_from(
            "files",
            &json!({"level": "alert", "logger": "db", "data": 1})
        ));
        let line = rx.try_recv().expect("sent");
        assert!(
            line.line().contains(r#""logger":"files/db""#),
            "{}",
            line.line()
        );
    }

    #[test]
    fn only_relayed_capabilities_reach_upstreams() {
        let declared = Declared {
            capabilities: json!({"sampling": {}, "elicitation": {"form": {}},
                                 "experimental": {"x": {}}, "roots": {"listChanged": true}}),
            protocol_version: "2025-11-25".into(),
        };
        assert_eq!(
            Agent::relayed_capabilities(&declared),
            json!({"sampling": {}, "elicitation": {"form": {}}, "roots": {"listChanged": true}})
        );
    }
}

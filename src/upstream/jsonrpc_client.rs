//! The client side of JSON-RPC shared by both transports: the messages we
//! send, what a message from the server is, and the table of requests
//! waiting for their answers.

use std::collections::HashMap;
use std::sync::Mutex;

use crossbeam_channel::{bounded, Receiver, Sender};
use serde_json::{json, Map, Value};

use super::error::CallError;

use crate::mcp::jsonrpc::METHOD_NOT_FOUND;
use crate::sync::lock;

/// `{"jsonrpc":"2.0","id":..,"method":..,"params":..}`; `params` left out
/// when null, as servers may reject `"params": null`.
pub fn request(id: u64, method: &str, params: Value) -> Value {
    let mut message = Map::new();
    message.insert("jsonrpc".into(), json!("2.0"));
    message.insert("id".into(), json!(id));
    message.insert("method".into(), json!(method));
    if !params.is_null() {
        message.insert("params".into(), params);
    }
    Value::Object(message)
}

pub fn notification(method: &str, params: Value) -> Value {
    let mut message = Map::new();
    message.insert("jsonrpc".into(), json!("2.0"));
    message.insert("method".into(), json!(method));
    if !params.is_null() {
        message.insert("params".into(), params);
    }
    Value::Object(message)
}

pub fn cancelled(id: u64, reason: &str) -> Value {
    notification(
        "notifications/cancelled",
        json!({"requestId": id, "reason": reason}),
    )
}

/// Answers a request the server sent us: `ping` at once, the requests we
/// relay (sampling, elicitation, roots) by asking the agent on a thread of
/// their own, which hands the answer to `deliver`. `cancel` (the
/// connection's end) stops the wait. Returns false when no thread could be
/// started (`deliver` then never runs).
pub fn answer_or_relay(
    server: &str,
    id: Value,
    method: String,
    params: Value,
    cancel: Receiver<()>,
    deliver: impl FnOnce(Value) + Send + 'static,
) -> bool {
    if method == "ping" || !crate::mcp::agent::is_relayed(&method) {
        deliver(answer_server_request(&id, &method));
        return true;
    }
    // The agent may take minutes to answer: each waiting relay holds a
    // place in the server's own budget of relays, so a server that asks
    // without end uses up those places only.
    let group = crate::threads::relays(server);
    let spawned = crate::threads::spawn(format!("relay-{server}"), &group, move || {
        let asked = crate::mcp::agent::agent().ask(&method, params, RELAY_TIMEOUT, &cancel);
        deliver(match asked {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
        });
    });
    spawned.is_ok()
}

/// How long a relayed request waits for the agent (a person may have to
/// answer an elicitation): as long as a tool call may take by default.
pub const RELAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Our own answer to a request the server sent us: `ping` is answered; a
/// method we neither serve nor relay is not found.
pub fn answer_server_request(id: &Value, method: &str) -> Value {
    if method == "ping" {
        json!({"jsonrpc": "2.0", "id": id, "result": {}})
    } else {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {"code": METHOD_NOT_FOUND, "message": format!("Method not found: {}", short(method))},
        })
    }
}

fn short(text: &str) -> String {
    text.chars().take(100).collect()
}

/// One message from the server.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// An answer to one of our requests (ours when `id` is one we issued).
    Response {
        id: Option<u64>,
        outcome: Result<Value, Value>,
    },
    /// The server asks us something; it must get an answer.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification(Value),
    /// Anything else: what is wrong with it, for the log.
    Invalid(&'static str),
}

/// What a parsed message is. A batch (array) is split by the caller. Its
/// parts are moved out, never copied: an answer may be megabytes.
pub fn classify(message: Value) -> Incoming {
    let Value::Object(mut fields) = message else {
        return Incoming::Invalid("not a JSON object");
    };
    let method = fields
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string);
    let has_id = fields.get("id").is_some_and(|id| !id.is_null());
    match (method, has_id) {
        (Some(method), true) => Incoming::Request {
            id: fields.remove("id").unwrap_or(Value::Null),
            method,
            params: fields.remove("params").unwrap_or(Value::Null),
        },
        (Some(_), false) => Incoming::Notification(Value::Object(fields)),
        (None, _) => {
            let id = fields.get("id").and_then(Value::as_u64);
            if let Some(result) = fields.remove("result") {
                Incoming::Response {
                    id,
                    outcome: Ok(result),
                }
            } else if let Some(error) = fields.remove("error") {
                Incoming::Response {
                    id,
                    outcome: Err(error),
                }
            } else {
                Incoming::Invalid("neither a request, a notification nor an answer")
            }
        }
    }
}

pub type Outcome = Result<Value, CallError>;

struct Waiter {
    tx: Sender<Outcome>,
    /// Set just before the request is written: from then on a lost
    /// connection leaves its outcome uncertain.
    sent: bool,
}

struct Table {
    waiting: HashMap<u64, Waiter>,
    /// Set once the connection is gone; later requests fail at once.
    ended: Option<CallError>,
}

/// Requests waiting for their answers, by id.
pub struct Pending {
    table: Mutex<Table>,
}

impl Default for Pending {
    fn default() -> Self {
        Self::new()
    }
}

impl Pending {
    pub fn new() -> Self {
        Pending {
            table: Mutex::new(Table {
                waiting: HashMap::new(),
                ended: None,
            }),
        }
    }

    /// Where the answer to `id` will arrive; fails when the connection is
    /// already gone.
    pub fn register(&self, id: u64) -> Result<Receiver<Outcome>, CallError> {
        let mut table = lock(&self.table);
        if let Some(ended) = &table.ended {
            return Err(not_sent(ended));
        }
        let (tx, rx) = bounded(1);
        table.waiting.insert(id, Waiter { tx, sent: false });
        Ok(rx)
    }

    /// Marks `id` as about to be written; `false` when nobody waits for it
    /// any more (timed out or cancelled before its turn), so it is skipped.
    pub fn mark_sent(&self, id: u64) -> bool {
        match lock(&self.table).waiting.get_mut(&id) {
            Some(waiter) => {
                waiter.sent = true;
                true
            }
            None => false,
        }
    }

    /// Delivers an outcome; `false` when nobody waits for `id`.
    pub fn complete(&self, id: u64, outcome: Outcome) -> bool {
        let waiter = lock(&self.table).waiting.remove(&id);
        match waiter {
            Some(waiter) => {
                // The waiter may have just given up; that is fine.
                let _ = waiter.tx.try_send(outcome);
                true
            }
            None => false,
        }
    }

    /// Stops waiting for `id`. `Some(sent)` when it was still waiting.
    pub fn remove(&self, id: u64) -> Option<bool> {
        lock(&self.table)
            .waiting
            .remove(&id)
            .map(|waiter| waiter.sent)
    }

    /// The connection is gone: every waiting request fails with `error`
    /// (a transport loss says whether each had been sent), and so does
    /// every later one. The first end wins.
    pub fn end(&self, error: CallError) {
        let waiting: Vec<Waiter> = {
            let mut table = lock(&self.table);
            if table.ended.is_none() {
                table.ended = Some(error.clone());
            }
            table.waiting.drain().map(|(_, waiter)| waiter).collect()
        };
        for waiter in waiting {
            let outcome = match &error {
                CallError::Transport { detail, .. } => CallError::Transport {
                    detail: detail.clone(),
                    sent: waiter.sent,
                },
                other => other.clone(),
            };
            let _ = waiter.tx.try_send(Err(outcome));
        }
    }

    pub fn is_ended(&self) -> bool {
        lock(&self.table).ended.is_some()
    }

    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        lock(&self.table).waiting.len()
    }
}

/// The error a request gets when the connection was gone before it was
/// written.
fn not_sent(ended: &CallError) -> CallError {
    match ended {
        CallError::Transport { detail, .. } => CallError::Transport {
            detail: detail.clone(),
            sent: false,
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_leave_out_null_params() {
        assert_eq!(
            request(7, "ping", Value::Null),
            json!({"jsonrpc": "2.0", "id": 7, "method": "ping"})
        );
        assert_eq!(
            notification("notifications/initialized", json!({})),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized", "params": {}})
        );
        assert_eq!(
            cancelled(3, "timeout")["params"],
            json!({"requestId": 3, "reason": "timeout"})
        );
    }

    #[test]
    fn server_requests_get_ping_or_method_not_found() {
        let id = json!("s-1");
        assert_eq!(answer_server_request(&id, "ping")["result"], json!({}));
        let other = answer_server_request(&id, "roots/list");
        assert_eq!(other["error"]["code"], json!(-32601));
        assert_eq!(other["id"], id);
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(json!({"jsonrpc": "2.0", "id": 4, "result": {"a": 1}})),
            Incoming::Response {
                id: Some(4),
                outcome: Ok(json!({"a": 1}))
            }
        );
        assert_eq!(
            classify(json!({"jsonrpc": "2.0", "id": "x", "error": {"code": 1}})),
            Incoming::Response {
                id: None,
                outcome: Err(json!({"code": 1}))
            }
        );
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
            Incoming::Request { .. }
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "method": "notifications/progress"})),
            Incoming::Notification(_)
        ));
        assert!(matches!(classify(json!([1])), Incoming::Invalid(_)));
        assert!(matches!(classify(json!({"id": 1})), Incoming::Invalid(_)));
    }

    #[test]
    fn answers_reach_their_waiters_in_any_order() {
        let pending = Pending::new();
        let a = pending.register(1).unwrap();
        let b = pending.register(2).unwrap();
        assert!(pending.complete(2, Ok(json!("two"))));
        assert!(pending.complete(1, Ok(json!("one"))));
        assert!(!pending.complete(3, Ok(json!("nobody"))));
        assert_eq!(a.try_recv().unwrap().unwrap(), json!("one"));
        assert_eq!(b.try_recv().unwrap().unwrap(), json!("two"));
        assert_eq!(pending.waiting(), 0);
    }

    #[test]
    fn the_end_tells_each_waiter_whether_it_was_sent() {
        let pending = Pending::new();
        let written = pending.register(1).unwrap();
        let queued = pending.register(2).unwrap();
        assert!(pending.mark_sent(1));
        pending.end(CallError::transport("exited", false));
        assert!(matches!(
            written.try_recv().unwrap(),
            Err(CallError::Transport { sent: true, .. })
        ));
        assert!(matches!(
            queued.try_recv().unwrap(),
            Err(CallError::Transport { sent: false, .. })
        ));
        assert!(matches!(
            pending.register(3),
            Err(CallError::Transport { sent: false, .. })
        ));
        assert!(!pending.mark_sent(2));
    }

    #[test]
    fn a_removed_request_is_skipped() {
        let pending = Pending::new();
        let _rx = pending.register(9).unwrap();
        assert_eq!(pending.remove(9), Some(false));
        assert!(!pending.mark_sent(9));
        assert_eq!(pending.remove(9), None);
    }
}

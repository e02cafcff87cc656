//! Relaying `notifications/progress` from upstreams to the agent
//! (mcp-server.md §1). A proxied call that carries the agent's progress
//! token goes upstream with a token of ours; progress the upstream reports
//! under that token goes to the agent under the agent's token. Progress
//! under any other token is dropped: an upstream cannot speak for calls it
//! was not given.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::mcp::outbox::Outbox;

/// Upstream token → the agent's token, for calls in flight.
#[derive(Clone, Default)]
pub struct ProgressRelay {
    active: Arc<Mutex<HashMap<String, Value>>>,
    next: Arc<AtomicU64>,
}

/// Removes its token when the call ends, however it ends.
pub struct Registration {
    relay: ProgressRelay,
    token: String,
}

impl Registration {
    /// The token to send upstream as `_meta.progressToken`.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.relay.with(|active| {
            active.remove(&self.token);
        });
    }
}

impl ProgressRelay {
    /// Registers a call whose agent asked for progress under `agent_token`.
    pub fn register(&self, agent_token: &Value) -> Registration {
        let token = format!("molecule-{}", self.next.fetch_add(1, Ordering::Relaxed));
        self.with(|active| {
            active.insert(token.clone(), agent_token.clone());
        });
        Registration {
            relay: self.clone(),
            token,
        }
    }

    /// Passes an upstream's `notifications/progress` params on to the agent
    /// when its token belongs to a call in flight; returns whether it did.
    pub fn relay(&self, params: &Value, outbox: &Outbox) -> bool {
        let Some(token) = params.get("progressToken").and_then(Value::as_str) else {
            return false;
        };
        let Some(agent_token) = self.with(|active| active.get(token).cloned()) else {
            return false;
        };
        let mut out = json!({"progressToken": agent_token});
        for key in ["progress", "total", "message"] {
            if let Some(v) = params.get(key) {
                out[key] = v.clone();
            }
        }
        outbox.notify("notifications/progress", out)
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Value>) -> T) -> T {
        match self.active.lock() {
            Ok(mut active) => f(&mut active),
            Err(e) => f(&mut e.into_inner()),
        }
    }
}

/// `params` with `_meta.progressToken` set (kept an object).
pub fn with_token(mut params: Value, token: &str) -> Value {
    if let Some(object) = params.as_object_mut() {
        let meta = object.entry("_meta").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        meta["progressToken"] = json!(token);
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::outbox::Outbox;

    #[test]
    fn progress_of_a_call_in_flight_reaches_the_agent_under_its_token() {
        let (outbox, lines) = Outbox::channel();
        let relay = ProgressRelay::default();
        let call = relay.register(&json!(17));
        let params =
            json!({"progressToken": call.token(), "progress": 2, "total": 4, "message": "half"});
        assert!(relay.relay(&params, &outbox));
        let line = lines.try_recv().expect("a notification");
        let sent: Value = serde_json::from_str(line.line()).unwrap();
        assert_eq!(sent["method"], "notifications/progress");
        assert_eq!(
            sent["params"],
            json!({"progressToken": 17, "progress": 2, "total": 4, "message": "half"})
        );
    }

    #[test]
    fn unknown_or_finished_tokens_are_dropped() {
        let (outbox, lines) = Outbox::channel();
        let relay = ProgressRelay::default();
        assert!(!relay.relay(
            &json!({"progressToken": "molecule-0", "progress": 1}),
            &outbox
        ));
        let call = relay.register(&json!("agent-token"));
        let token = call.token().to_string();
        drop(call);
        assert!(!relay.relay(&json!({"progressToken": token, "progress": 1}), &outbox));
        assert!(!relay.relay(&json!({"progress": 1}), &outbox));
        assert!(lines.try_recv().is_err());
    }

    #[test]
    fn the_token_goes_into_meta() {
        let p = with_token(json!({"name": "t", "arguments": {}}), "molecule-3");
        assert_eq!(p["_meta"]["progressToken"], "molecule-3");
        let p = with_token(json!({"name": "t", "_meta": 5}), "molecule-4");
        assert_eq!(p["_meta"], json!({"progressToken": "molecule-4"}));
    }
}

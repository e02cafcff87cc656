//! Relaying `notifications/progress` from upstreams to the agent
//! (mcp-server.md §1). A proxied call that carries the agent's progress
//! token goes upstream with a token of ours; progress the upstream reports
//! under that token goes to the agent under the agent's token. Progress
//! under any other token is dropped: an upstream cannot speak for calls it
//! was not given.

//!
//! What the agent sees of one call's progress (strictly increasing values,
//! a rate limit, the held note sent before the result) is decided by
//! [`ProgressGate`] (spec/progress.table); here are the tokens and the
//! notes themselves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use crate::machine::progress::{ProgressGate, Verdict};
use crate::mcp::outbox::Outbox;
use crate::sync::lock;

struct Call {
    agent_token: Value,
    gate: ProgressGate,
    /// The latest note held back by the rate.
    held: Option<Value>,
}

/// Upstream token → the agent's call, for calls in flight.
#[derive(Clone, Default)]
pub struct ProgressRelay {
    active: Arc<Mutex<HashMap<String, Call>>>,
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

    /// Sends the note held back by the rate, if any: called before the
    /// call's result goes out, so the agent has the latest progress first.
    pub fn flush(&self, outbox: &Outbox) {
        let held = self.relay.with(|active| {
            let call = active.get_mut(&self.token)?;
            call.gate.flush().then(|| call.held.take()).flatten()
        });
        if let Some(note) = held {
            outbox.notify("notifications/progress", note);
        }
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
            active.insert(
                token.clone(),
                Call {
                    agent_token: agent_token.clone(),
                    gate: ProgressGate::new(Instant::now()),
                    held: None,
                },
            );
        });
        Registration {
            relay: self.clone(),
            token,
        }
    }

    /// Passes an upstream's `notifications/progress` params on to the agent
    /// when its token belongs to a call in flight and its value is new;
    /// returns whether it was taken (sent, or held for later).
    pub fn relay(&self, params: &Value, outbox: &Outbox) -> bool {
        let Some(token) = params.get("progressToken").and_then(Value::as_str) else {
            return false;
        };
        let Some(progress) = params.get("progress").and_then(Value::as_f64) else {
            return false;
        };
        let now = Instant::now();
        let note = self.with(|active| {
            let call = active.get_mut(token)?;
            let verdict = call.gate.offer(progress, now);
            if verdict == Verdict::Stale {
                return None;
            }
            let mut out = json!({"progressToken": call.agent_token.clone()});
            for key in ["progress", "total", "message"] {
                if let Some(v) = params.get(key) {
                    out[key] = v.clone();
                }
            }
            if verdict == Verdict::Send {
                call.held = None;
                Some(Some(out))
            } else {
                call.held = Some(out);
                Some(None)
            }
        });
        match note {
            Some(Some(out)) => outbox.notify("notifications/progress", out),
            Some(None) => true,
            None => false,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Call>) -> T) -> T {
        f(&mut lock(&self.active))
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

    fn values(lines: &crossbeam_channel::Receiver<crate::mcp::outbox::Outgoing>) -> Vec<f64> {
        lines
            .try_iter()
            .filter_map(|l| serde_json::from_str::<Value>(l.line()).ok())
            .filter_map(|v| v["params"]["progress"].as_f64())
            .collect()
    }

    #[test]
    fn values_only_increase_even_across_a_replay() {
        let (outbox, lines) = Outbox::channel();
        let relay = ProgressRelay::default();
        let call = relay.register(&json!(1));
        for progress in [1, 2, 1, 2, 3, 3, 4] {
            relay.relay(
                &json!({"progressToken": call.token(), "progress": progress}),
                &outbox,
            );
        }
        assert_eq!(values(&lines), [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn a_flood_is_limited_and_the_latest_comes_before_the_result() {
        let (outbox, lines) = Outbox::channel();
        let relay = ProgressRelay::default();
        let call = relay.register(&json!(1));
        for progress in 1..=500 {
            relay.relay(
                &json!({"progressToken": call.token(), "progress": progress}),
                &outbox,
            );
        }
        call.flush(&outbox);
        let sent = values(&lines);
        assert!(sent.len() < 20, "{} notes", sent.len());
        assert_eq!(sent.last(), Some(&500.0), "the latest is kept");
        assert!(sent.windows(2).all(|w| w[0] < w[1]), "{sent:?}");
        call.flush(&outbox);
        assert!(values(&lines).is_empty(), "flushed once");
    }

    #[test]
    fn the_token_goes_into_meta() {
        let p = with_token(json!({"name": "t", "arguments": {}}), "molecule-3");
        assert_eq!(p["_meta"]["progressToken"], "molecule-3");
        let p = with_token(json!({"name": "t", "_meta": 5}), "molecule-4");
        assert_eq!(p["_meta"], json!({"progressToken": "molecule-4"}));
    }
}

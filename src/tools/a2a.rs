//! One A2A `message/send` to a peer through the platform, with the retries
//! platform.md §8 asks for: up to 5 attempts on connection failures and on
//! 503 (honouring `Retry-After`), backoff from 1 s doubling to 16 s with
//! jitter, 600 s in all. Every wait gives up at once on cancellation.

use std::time::{Duration, Instant};

use crossbeam_channel::{after, select, Receiver};
use serde_json::{json, Value};

use super::errors::Failure;
use super::route::{success_json, Acting};
use super::uuid;
use crate::platform::http::Body;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// All attempts and waits together.
    pub total: Duration,
    /// How long one attempt may wait for the peer's answer.
    pub read_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(16),
            total: Duration::from_secs(600),
            read_timeout: Duration::from_secs(300),
        }
    }
}

/// The JSON-RPC `message/send` body carrying `task`, with fresh ids.
pub fn message_send(task: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": uuid::v4(),
        "method": "message/send",
        "params": {"message": {
            "role": "user",
            "messageId": uuid::v4(),
            "parts": [{"kind": "text", "text": task}],
        }},
    })
}

/// The wait before attempt `attempt + 1`: doubling from the first backoff,
/// capped, then scaled by 0.8–1.2 from `unit` in [0, 1) so that callers
/// who failed together do not retry together.
pub fn backoff(policy: &RetryPolicy, attempt: u32, unit: f64) -> Duration {
    let doubled = policy
        .first_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let base = doubled.min(policy.max_backoff);
    base.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

fn jitter_unit() -> f64 {
    (uuid::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A connection-level failure worth another attempt: refused, DNS, connect
/// timeout. Anything later is not: the request may have reached the peer,
/// and sending it again could deliver the task twice.
fn retryable_transport(failure: &Failure) -> bool {
    matches!(failure, Failure::Http(e) if e.is_connection_level())
}

/// Sends `body` to `target` and returns the peer's JSON answer (2xx).
pub fn send(
    acting: &Acting<'_>,
    target: &str,
    body: &Value,
    policy: &RetryPolicy,
    cancel: &Receiver<()>,
) -> Result<Value, Failure> {
    let started = Instant::now();
    let url = acting.url(&["workspaces", target, "a2a"]);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = policy.total.saturating_sub(started.elapsed());
        let timeout = policy.read_timeout.min(left).max(Duration::from_secs(1));
        let answer = acting.send_cancellable(
            "POST",
            url.clone(),
            Some(Body::Json(body.clone())),
            timeout,
            cancel,
        );
        let (failure, wait) = match answer {
            Ok(response) if response.status == 503 => {
                let wait = match response.retry_after {
                    Some(secs) => Duration::from_secs(secs),
                    None => backoff(policy, attempt, jitter_unit()),
                };
                (Failure::Status(response), wait)
            }
            Ok(response) => return success_json(response),
            Err(failure) if retryable_transport(&failure) => {
                (failure, backoff(policy, attempt, jitter_unit()))
            }
            Err(failure) => return Err(failure),
        };
        let left = policy.total.saturating_sub(started.elapsed());
        if attempt >= policy.attempts || wait >= left {
            return Err(failure);
        }
        log::info!(
            "A2A to {target}: attempt {attempt} failed; retrying in {:.1} s",
            wait.as_secs_f64()
        );
        select! {
            recv(cancel) -> _ => return Err(Failure::Cancelled),
            recv(after(wait)) -> _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::http::{HttpError, TransportKind};

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter() {
        let p = RetryPolicy::default();
        let middle: Vec<u64> = (1..=7).map(|a| backoff(&p, a, 0.5).as_secs()).collect();
        assert_eq!(middle, [1, 2, 4, 8, 16, 16, 16]);
        assert_eq!(backoff(&p, 1, 0.0), Duration::from_millis(800));
        assert_eq!(backoff(&p, 5, 1.0), Duration::from_millis(19_200));
        assert_eq!(backoff(&p, 100, 0.5), Duration::from_secs(16));
        for _ in 0..100 {
            let u = jitter_unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }

    #[test]
    fn message_send_has_the_wire_shape_and_fresh_ids() {
        let a = message_send("do x");
        let b = message_send("do x");
        assert_eq!(a["jsonrpc"], "2.0");
        assert_eq!(a["method"], "message/send");
        assert_eq!(a["params"]["message"]["role"], "user");
        assert_eq!(
            a["params"]["message"]["parts"],
            json!([{"kind": "text", "text": "do x"}])
        );
        assert_ne!(a["id"], b["id"]);
        assert_ne!(a["id"], a["params"]["message"]["messageId"]);
        assert_eq!(a["id"].as_str().map(str::len), Some(36));
    }

    #[test]
    fn only_connection_failures_are_retried() {
        let t = |kind| Failure::Http(HttpError::transport(kind, "x"));
        assert!(retryable_transport(&t(TransportKind::Connect)));
        assert!(retryable_transport(&t(TransportKind::HostNotFound)));
        assert!(retryable_transport(&t(TransportKind::ConnectTimeout)));
        // The body may have been sent: a second send could duplicate it.
        assert!(!retryable_transport(&t(TransportKind::Timeout)));
        assert!(!retryable_transport(&t(TransportKind::Io)));
        assert!(!retryable_transport(&t(TransportKind::Build)));
        assert!(!retryable_transport(&t(TransportKind::Local)));
        assert!(!retryable_transport(&Failure::Cancelled));
    }
}

//! `delegate_task`: discover the peer, send it the task over A2A and return
//! its answer. A poll-mode or busy peer only queues the message; then the
//! task is filed as a delegation and its row polled until it completes,
//! fails, or `DELEGATION_TIMEOUT` passes.

use std::time::{Duration, Instant};

use crossbeam_channel::{after, select, Receiver};
use serde_json::Value;

use super::a2a::{self, RetryPolicy};
use super::args::Args;
use super::delegations;
use super::errors::{explain, About, Failure};
use super::peer_text::{display, fenced, is_queued, reply_text, rpc_error};
use super::result::{text, Fault, Outcome};
use super::route::{success_json, Acting};
use super::Toolbox;
use crate::config::EnvMap;
use crate::mcp::context::CallContext;
use crate::platform::http::{HttpError, DEFAULT_TIMEOUT};

pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Longer waits are a configuration mistake, not a wish.
const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;
pub const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// How long `delegate_task` waits, and how.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long to wait for a queued task's delegation to finish.
    pub timeout: Duration,
    /// How often its row is read meanwhile.
    pub poll_interval: Duration,
    pub a2a: RetryPolicy,
}

impl Settings {
    /// `DELEGATION_TIMEOUT` (whole seconds, default 300); anything else is
    /// warned about and the default used.
    pub fn from_env(env: &EnvMap) -> Self {
        let raw = env
            .get("DELEGATION_TIMEOUT")
            .map(|v| v.to_string_lossy().trim().to_string())
            .filter(|v| !v.is_empty());
        let secs = match raw.as_deref().map(str::parse::<u64>) {
            None => DEFAULT_TIMEOUT_SECS,
            Some(Ok(secs)) => secs.clamp(1, MAX_TIMEOUT_SECS),
            Some(Err(_)) => {
                log::warn!(
                    "DELEGATION_TIMEOUT must be a whole number of seconds; using {DEFAULT_TIMEOUT_SECS}"
                );
                DEFAULT_TIMEOUT_SECS
            }
        };
        Settings {
            timeout: Duration::from_secs(secs),
            poll_interval: POLL_INTERVAL,
            a2a: RetryPolicy::default(),
        }
    }
}

pub fn delegate_task(tools: &Toolbox, args: &Args, ctx: &CallContext) -> Outcome {
    let target = args.required_id("workspace_id")?;
    let task = args.required_str("task")?;
    let explicit = args.optional_str("source_workspace_id")?;
    let acting = tools.acting("source_workspace_id", explicit, Some(target))?;
    let src = acting.id();
    let fail = |f: Failure| Fault::Tool(explain("delegate_task", About::Peer { src, target }, &f));
    if target == src {
        return Err(Fault::Tool(format!(
            "delegate_task failed: {target} is the workspace you act as, and a workspace cannot \
             delegate to itself. Pick a peer from list_peers."
        )));
    }
    let cancel = ctx.cancelled();
    let name = discover(&acting, target, cancel).map_err(fail)?;
    let peer = label(name.as_deref(), target);
    let body = a2a::message_send(task);
    let answer = a2a::send(&acting, target, &body, &tools.delegation.a2a, cancel).map_err(fail)?;
    if !answer.is_object() {
        return Err(fail(Failure::Unexpected {
            status: 200,
            snippet: crate::platform::http::snippet(answer.to_string().as_bytes()),
        }));
    }
    if let Some(error) = rpc_error(&answer) {
        return Err(Fault::Tool(format!(
            "delegate_task failed: {peer} answered with an error: {error}."
        )));
    }
    if is_queued(&answer) {
        // The message id is unique per call: a repeated delegate_task is a
        // new task, while a retried POST of this one is not.
        let key = body
            .pointer("/params/message/messageId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let queued = Queued {
            acting: &acting,
            target,
            task,
            key,
            peer: &peer,
        };
        return queued.wait(&tools.delegation, ctx);
    }
    Ok(match reply_text(&answer) {
        Some(reply) => text(fenced(&format!("Answer from {peer}:"), &reply)),
        None => text(format!(
            "{peer} accepted the task but answered without any text."
        )),
    })
}

/// `GET /registry/discover/{target}`: whether we may reach it, and its name.
fn discover(
    acting: &Acting<'_>,
    target: &str,
    cancel: &Receiver<()>,
) -> Result<Option<String>, Failure> {
    let url = acting.url(&["registry", "discover", target]);
    let response = acting.send_cancellable("GET", url, None, DEFAULT_TIMEOUT, cancel)?;
    let status = response.status;
    let found = success_json(response)?;
    if !found.is_object() {
        return Err(Failure::Unexpected {
            status,
            snippet: crate::platform::http::snippet(found.to_string().as_bytes()),
        });
    }
    Ok(found
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string))
}

fn label(name: Option<&str>, target: &str) -> String {
    match name.map(|n| display(n, 64)).filter(|n| !n.is_empty()) {
        Some(name) => format!("{name} ({target})"),
        None => target.to_string(),
    }
}

/// A task the peer queued instead of answering.
struct Queued<'a> {
    acting: &'a Acting<'a>,
    target: &'a str,
    task: &'a str,
    key: &'a str,
    peer: &'a str,
}

enum RowState {
    Done(String),
    Failed(String),
    Pending,
}

fn row_state(row: &Value) -> RowState {
    let field = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default();
    match field("status").to_ascii_lowercase().as_str() {
        "completed" | "done" | "succeeded" | "success" => {
            RowState::Done(field("response_preview").to_string())
        }
        status @ ("failed" | "error" | "cancelled" | "canceled" | "rejected" | "timeout") => {
            let why = match field("error") {
                "" => status.to_string(),
                error => display(error, 500),
            };
            RowState::Failed(why)
        }
        _ => RowState::Pending,
    }
}

/// A polling failure worth waiting out rather than giving up on.
fn transient(failure: &Failure) -> bool {
    match failure {
        Failure::Http(HttpError::Transport { .. } | HttpError::TooLarge) => true,
        Failure::Unexpected { .. } => true,
        Failure::Status(r) => r.status == 429 || r.status >= 500,
        _ => false,
    }
}

impl Queued<'_> {
    fn wait(&self, settings: &Settings, ctx: &CallContext) -> Outcome {
        let (src, target, peer) = (self.acting.id(), self.target, self.peer);
        let cancel = ctx.cancelled();
        let about = About::Peer { src, target };
        let started = delegations::start(self.acting, target, self.task, self.key, Some(cancel))
            .map_err(|f| Fault::Tool(explain("delegate_task", about, &f)))?;
        let id = started.delegation_id;
        let cancelled = || {
            Fault::Tool(format!(
                "delegate_task was cancelled; the task stays delegated to {peer} as {id}."
            ))
        };
        let began = Instant::now();
        let deadline = began + settings.timeout;
        let mut problem: Option<String> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            select! {
                recv(cancel) -> _ => return Err(cancelled()),
                recv(after(settings.poll_interval.min(left))) -> _ => {}
            }
            match delegations::list(self.acting, Some(cancel)) {
                Ok(rows) => {
                    problem = None;
                    match delegations::find(&rows, &id).map(row_state) {
                        Some(RowState::Done(reply)) => {
                            return Ok(text(fenced(&format!("Answer from {peer}:"), &reply)))
                        }
                        Some(RowState::Failed(why)) => {
                            return Err(Fault::Tool(format!(
                                "delegate_task failed: {peer} did not complete the task \
                                 (delegation {id}): {why}"
                            )))
                        }
                        Some(RowState::Pending) | None => {}
                    }
                }
                Err(Failure::Cancelled) => return Err(cancelled()),
                Err(f) if transient(&f) => {
                    let text = explain("reading the delegation", About::Own(src), &f);
                    log::warn!("delegate_task to {target}: {text}");
                    problem = Some(text);
                }
                Err(f) => return Err(Fault::Tool(explain("delegate_task", About::Own(src), &f))),
            }
            ctx.progress(
                began.elapsed().as_secs_f64().floor(),
                Some(settings.timeout.as_secs_f64()),
                Some("waiting for the peer's answer"),
            );
        }
        let mut message = format!(
            "delegate_task failed: no answer from {peer} within {} s. The task stays delegated \
             as {id}; check on it later with check_task_status (workspace_id = {target}, \
             task_id = {id}).",
            settings.timeout.as_secs()
        );
        if let Some(problem) = problem {
            message.push_str(&format!(" Last problem: {problem}"));
        }
        Err(Fault::Tool(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::ffi::OsString;

    fn env(value: Option<&str>) -> EnvMap {
        let mut env = EnvMap::new();
        if let Some(v) = value {
            env.insert("DELEGATION_TIMEOUT".into(), OsString::from(v));
        }
        env
    }

    #[test]
    fn delegation_timeout_comes_from_the_environment() {
        assert_eq!(
            Settings::from_env(&env(None)).timeout,
            Duration::from_secs(300)
        );
        assert_eq!(
            Settings::from_env(&env(Some(" 42 "))).timeout,
            Duration::from_secs(42)
        );
        assert_eq!(
            Settings::from_env(&env(Some(""))).timeout,
            Duration::from_secs(300)
        );
        assert_eq!(
            Settings::from_env(&env(Some("soon"))).timeout,
            Duration::from_secs(300)
        );
        assert_eq!(
            Settings::from_env(&env(Some("0"))).timeout,
            Duration::from_secs(1)
        );
        assert_eq!(
            Settings::from_env(&env(None)).poll_interval,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn rows_are_classified_by_status() {
        let done = json!({"status": "completed", "response_preview": "42"});
        assert!(matches!(row_state(&done), RowState::Done(t) if t == "42"));
        let failed = json!({"status": "failed", "error": "peer\ncrashed"});
        assert!(matches!(row_state(&failed), RowState::Failed(t) if t == "peer crashed"));
        let bare = json!({"status": "cancelled"});
        assert!(matches!(row_state(&bare), RowState::Failed(t) if t == "cancelled"));
        for pending in [
            json!({"status": "pending"}),
            json!({"status": "delegated"}),
            json!({}),
            json!(7),
        ] {
            assert!(
                matches!(row_state(&pending), RowState::Pending),
                "{pending}"
            );
        }
    }

    #[test]
    fn labels_use_a_safe_name_when_there_is_one() {
        assert_eq!(label(Some("Res\nearch"), "p1"), "Res earch (p1)");
        assert_eq!(label(Some("  "), "p1"), "p1");
        assert_eq!(label(None, "p1"), "p1");
    }
}

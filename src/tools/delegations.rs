//! Delegations kept by the platform: `POST /delegate` and
//! `GET /delegations`, and the two tools built only on them,
//! `delegate_task_async` and `check_task_status`.

use crossbeam_channel::Receiver;
use serde_json::{json, Value};

use super::args::Args;
use super::errors::{explain, About, Failure};
use super::peer_text::fenced_field;
use super::result::{json_value, Fault, Outcome};
use super::route::{success_json, Acting};
use super::Toolbox;
use crate::mcp::context::CallContext;
use crate::platform::http::{Body, Response, DEFAULT_TIMEOUT};

/// How many rows `check_task_status` lists without a `task_id`.
const NEWEST: usize = 10;

/// A stable key for (src, target, task): FNV-1a 64 as 16 hex digits. The
/// parts are separated by a byte that cannot occur in UTF-8 text, so
/// ("ab", "c") and ("a", "bc") differ.
pub fn idempotency_key(src: &str, target: &str, task: &str) -> String {
    let bytes = src
        .bytes()
        .chain([0xff])
        .chain(target.bytes())
        .chain([0xff])
        .chain(task.bytes());
    format!("{:016x}", fnv1a64(bytes))
}

fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.into_iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// A delegation the platform accepted (new, or an idempotent hit).
pub struct Started {
    pub delegation_id: String,
    pub status: String,
}

fn send(
    acting: &Acting<'_>,
    method: &'static str,
    url: String,
    body: Option<Value>,
    cancel: Option<&Receiver<()>>,
) -> Result<Response, Failure> {
    let body = body.map(Body::Json);
    match cancel {
        Some(cancel) => acting.send_cancellable(method, url, body, DEFAULT_TIMEOUT, cancel),
        None => acting.send(method, url, body, DEFAULT_TIMEOUT),
    }
}

/// `POST /workspaces/{src}/delegate`. A 200 with `idempotent_hit: true` is
/// the delegation made earlier with the same key, and a success.
pub fn start(
    acting: &Acting<'_>,
    target: &str,
    task: &str,
    key: &str,
    cancel: Option<&Receiver<()>>,
) -> Result<Started, Failure> {
    let url = acting.url(&["workspaces", acting.id(), "delegate"]);
    let body = json!({"target_id": target, "task": task, "idempotency_key": key});
    let response = send(acting, "POST", url, Some(body), cancel)?;
    let status_code = response.status;
    let answer = success_json(response)?;
    let Some(id) = answer.get("delegation_id").and_then(Value::as_str) else {
        return Err(Failure::Unexpected {
            status: status_code,
            snippet: crate::platform::http::snippet(answer.to_string().as_bytes()),
        });
    };
    let status = answer
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("delegated");
    Ok(Started {
        delegation_id: id.to_string(),
        status: status.to_string(),
    })
}

/// `GET /workspaces/{src}/delegations`: up to 50 rows, newest first.
pub fn list(acting: &Acting<'_>, cancel: Option<&Receiver<()>>) -> Result<Vec<Value>, Failure> {
    let url = acting.url(&["workspaces", acting.id(), "delegations"]);
    let response = send(acting, "GET", url, None, cancel)?;
    let status = response.status;
    match success_json(response)? {
        Value::Array(rows) => Ok(rows),
        other => Err(Failure::Unexpected {
            status,
            snippet: crate::platform::http::snippet(other.to_string().as_bytes()),
        }),
    }
}

/// The row of one delegation.
pub fn find<'a>(rows: &'a [Value], delegation_id: &str) -> Option<&'a Value> {
    rows.iter()
        .find(|r| r.get("delegation_id").and_then(Value::as_str) == Some(delegation_id))
}

pub fn delegate_task_async(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let target = args.required_id("workspace_id")?;
    let task = args.required_str("task")?;
    let explicit = args.optional_str("source_workspace_id")?;
    let acting = tools.acting("source_workspace_id", explicit, Some(target))?;
    let src = acting.id();
    if target == src {
        return Err(Fault::Tool(format!(
            "delegate_task_async failed: {target} is the workspace you act as; delegate to a \
             peer instead (see list_peers)."
        )));
    }
    let key = idempotency_key(src, target, task);
    let started = start(&acting, target, task, &key, None).map_err(|f| {
        Fault::Tool(explain(
            "delegate_task_async",
            About::Peer { src, target },
            &f,
        ))
    })?;
    Ok(json_value(json!({
        "delegation_id": started.delegation_id,
        "workspace_id": target,
        "status": started.status,
    })))
}

pub fn check_task_status(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let target = args.required_id("workspace_id")?;
    let task_id = args.present_id("task_id")?;
    let explicit = args.optional_str("source_workspace_id")?;
    // An agent may pass its own workspace here: then it is the one to ask.
    let explicit = explicit.or_else(|| tools.is_ours(target).then_some(target));
    let acting = tools.acting("source_workspace_id", explicit, Some(target))?;
    let src = acting.id();
    let rows = list(&acting, None)
        .map_err(|f| Fault::Tool(explain("check_task_status", About::Own(src), &f)))?;
    if !task_id.is_empty() {
        return Ok(match find(&rows, task_id) {
            Some(row) => json_value(fence_peer_fields(row.clone())),
            None => json_value(json!({"task_id": task_id, "status": "not_found"})),
        });
    }
    let newest: Vec<Value> = rows
        .into_iter()
        .filter(|r| target == src || r.get("target_id").and_then(Value::as_str) == Some(target))
        .take(NEWEST)
        .map(fence_peer_fields)
        .collect();
    Ok(json_value(json!({"delegations": newest})))
}

/// The fields of a delegation row the peer wrote, each fenced as untrusted
/// peer text; the rest is the platform's.
fn fence_peer_fields(mut row: Value) -> Value {
    for field in ["response_preview", "error"] {
        if let Some(Value::String(text)) = row.get_mut(field) {
            *text = fenced_field(text);
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_key_is_stable_and_separates_its_parts() {
        let key = idempotency_key("src", "target", "task");
        assert_eq!(key, idempotency_key("src", "target", "task"));
        assert_eq!(key.len(), 16);
        assert!(key
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(key, idempotency_key("src", "target", "task "));
        assert_ne!(
            idempotency_key("ab", "c", "t"),
            idempotency_key("a", "bc", "t")
        );
        assert_ne!(
            idempotency_key("s", "t", "x"),
            idempotency_key("t", "s", "x")
        );
    }

    #[test]
    fn hash_is_fnv1a_64() {
        // Test vectors published with the FNV reference code.
        assert_eq!(fnv1a64(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(*b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(
            idempotency_key("a", "", ""),
            format!("{:016x}", fnv1a64([b'a', 0xff, 0xff]))
        );
    }

    #[test]
    fn rows_are_found_by_delegation_id() {
        let rows = vec![
            json!({"delegation_id": "d2", "status": "pending"}),
            json!({"delegation_id": "d1", "status": "completed"}),
            json!("garbage"),
        ];
        assert_eq!(
            find(&rows, "d1").map(|r| &r["status"]),
            Some(&json!("completed"))
        );
        assert!(find(&rows, "d3").is_none());
    }
}

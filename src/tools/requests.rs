//! `create_request` and `create_approval`: a task or an approval raised to
//! the person using the canvas, who answers it there.

use std::time::Duration;

use serde_json::{json, Value};

use super::args::Args;
use super::errors::{explain, About, Failure};
use super::result::{text, Fault, Outcome};
use super::route::success_json;
use super::Toolbox;
use crate::mcp::context::CallContext;
use crate::mcp::jsonrpc::RpcError;
use crate::platform::http::{snippet, Body};

const TIMEOUT: Duration = Duration::from_secs(20);
pub const PRIORITY_MAX: u64 = 1000;
pub const KINDS: [&str; 2] = ["task", "approval"];

pub fn create_request(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let kind = args.required_id("kind")?;
    if !KINDS.contains(&kind) {
        return Err(Fault::Caller(RpcError::invalid_params(
            "`kind` must be task or approval",
        )));
    }
    let title = args.required_str("title")?;
    let detail = args.optional_str("detail")?;
    let priority = args.optional_number("priority", 0, PRIORITY_MAX)?;
    raise(tools, args, "create_request", kind, title, detail, priority)
}

pub fn create_approval(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let action = args.required_str("action")?;
    let reason = args.optional_str("reason")?;
    raise(
        tools,
        args,
        "create_approval",
        "approval",
        action,
        reason,
        None,
    )
}

fn raise(
    tools: &Toolbox,
    args: &Args,
    action: &str,
    kind: &str,
    title: &str,
    detail: Option<&str>,
    priority: Option<u64>,
) -> Outcome {
    let explicit = args.optional_str("source_workspace_id")?;
    let acting = tools.acting("source_workspace_id", explicit, None)?;
    let ws = acting.id();
    let fail = |f: Failure| Fault::Tool(explain(action, About::Own(ws), &f));
    let mut body = json!({
        "kind": kind,
        "recipient_type": "user",
        "recipient_id": "",
        "title": title,
        "detail": detail.unwrap_or_default(),
    });
    if let Some(p) = priority {
        body["priority"] = json!(p);
    }
    let response = acting
        .send(
            "POST",
            acting.url(&["workspaces", ws, "requests"]),
            Some(Body::Json(body)),
            TIMEOUT,
        )
        .map_err(fail)?;
    let status = response.status;
    let answer = success_json(response).map_err(fail)?;
    let Some(id) = answer.get("request_id").and_then(Value::as_str) else {
        return Err(fail(Failure::Unexpected {
            status,
            snippet: snippet(answer.to_string().as_bytes()),
        }));
    };
    let mut result = text(format!(
        "Raised {kind} request {id} to the user. They answer it in the canvas; their answer \
         arrives as a message."
    ));
    result["structuredContent"] = json!({"request_id": id, "kind": kind});
    Ok(result)
}

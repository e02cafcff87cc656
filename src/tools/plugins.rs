//! `install_plugin`: asks the platform to install a plugin into a
//! workspace, which restarts it. The platform checks the source against
//! its allowlist; this side only reports what it said.

use std::time::Duration;

use serde_json::{json, Value};

use super::args::Args;
use super::errors::{explain, About, Failure};
use super::peer_text::display;
use super::result::{text, Fault, Outcome};
use super::Toolbox;
use crate::mcp::context::CallContext;
use crate::platform::http::{snippet, Body, Response};

/// Installing may fetch and build: the platform answers when it is done.
const TIMEOUT: Duration = Duration::from_secs(300);

fn said(response: &Response, key: &str) -> Option<String> {
    let body = response.json().ok()?;
    let value = body.get(key).and_then(Value::as_str)?;
    Some(display(value, 300)).filter(|s| !s.is_empty())
}

pub fn install_plugin(tools: &Toolbox, args: &Args, ctx: &CallContext) -> Outcome {
    let source = args.required_str("source")?.trim();
    let explicit = args.optional_str("workspace_id")?;
    let acting = tools.acting("workspace_id", explicit, None)?;
    let ws = acting.id();
    let fail = |f: Failure| Fault::Tool(explain("install_plugin", About::Own(ws), &f));
    let response = acting
        .send_cancellable(
            "POST",
            acting.url(&["workspaces", ws, "plugins"]),
            Some(Body::Json(json!({"source": source}))),
            TIMEOUT,
            ctx.cancelled(),
        )
        .map_err(fail)?;
    let refused = |why: String| Err(Fault::Tool(format!("install_plugin failed: {why}")));
    match response.status {
        200..=299 => {}
        401 => {
            return refused(format!(
                "workspace {ws} is not yours to change (HTTP 401): its token does not own it. \
                 Install into your own workspace, or ask its owner."
            ))
        }
        403 => {
            let detail = said(&response, "error")
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            return refused(format!(
                "the source {source:?} is not on this platform's plugin allowlist (HTTP \
                 403{detail}). Ask an administrator to allow it, or pick an allowed source."
            ));
        }
        422 => {
            let error = said(&response, "error").unwrap_or_else(|| response.snippet());
            let hint = said(&response, "hint")
                .map(|h| format!(" Hint: {h:?}."))
                .unwrap_or_default();
            return refused(format!(
                "the platform cannot install {source:?} (HTTP 422): {error:?}.{hint}"
            ));
        }
        _ => return Err(fail(Failure::Status(response))),
    }
    let status = response.status;
    let body = response.json().map_err(|e| fail(e.into()))?;
    let Some(plugin) = body.get("plugin").and_then(Value::as_str) else {
        return Err(fail(Failure::Unexpected {
            status,
            snippet: snippet(body.to_string().as_bytes()),
        }));
    };
    let plugin = display(plugin, 200);
    let restarting = body.get("restarting").and_then(Value::as_bool) == Some(true);
    let mut result = text(if restarting {
        format!("Installed plugin {plugin} from {source}. The workspace is restarting to load it.")
    } else {
        format!("Installed plugin {plugin} from {source}.")
    });
    result["structuredContent"] =
        json!({"plugin": plugin, "source": source, "restarting": restarting});
    Ok(result)
}

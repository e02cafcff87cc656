//! `commit_memory` and `recall_memory`: facts kept by the platform across
//! sessions, per workspace, team or everyone.

use serde_json::{json, Value};

use super::args::Args;
use super::errors::{explain, About, Failure};
use super::peer_text::display;
use super::result::{text, Fault, Outcome};
use super::route::success_json;
use super::Toolbox;
use crate::mcp::context::CallContext;
use crate::platform::http::{request_line_len, snippet, with_query, MAX_REQUEST_LINE};
use crate::redact::redact;

/// One recalled memory is cut here in the listing.
const MAX_MEMORY_CHARS: usize = 2000;

/// `&q=` before the encoded query in the URL.
const SEPARATOR: usize = 3;

pub fn commit_memory(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let content = args.required_str("content")?;
    let scope = args.scope("scope")?.unwrap_or("LOCAL");
    let explicit = args.optional_str("source_workspace_id")?;
    let acting = tools.acting("source_workspace_id", explicit, None)?;
    let src = acting.id();
    let fail = |f: Failure| Fault::Tool(explain("commit_memory", About::Own(src), &f));
    // A memory may be read by the whole team or every workspace: never keep
    // a credential the agent pasted into it.
    let cleaned = redact(content);
    let body = json!({"content": cleaned, "scope": scope, "workspace_id": src});
    let response = acting
        .post(acting.url(&["workspaces", src, "memories"]), body)
        .map_err(fail)?;
    let saved = success_json(response).map_err(fail)?;
    let id = saved.get("id").and_then(Value::as_str).unwrap_or("(no id)");
    let mut message = format!("Memory saved (id {id}, scope {scope}).");
    if cleaned != content {
        message.push_str(" Secrets in it were masked before saving.");
    }
    Ok(text(message))
}

pub fn recall_memory(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let query = args.optional_str("query")?;
    let scope = args.scope("scope")?;
    let explicit = args.optional_str("source_workspace_id")?;
    let acting = tools.acting("source_workspace_id", explicit, None)?;
    let src = acting.id();
    let fail = |f: Failure| Fault::Tool(explain("recall_memory", About::Own(src), &f));
    let mut pairs = vec![("workspace_id", src)];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    let base = acting.url(&["workspaces", src, "memories"]);
    let without = request_line_len("GET", &with_query(base.clone(), &pairs));
    if let Some(q) = query {
        pairs.push(("q", q));
    }
    let url = with_query(base, &pairs);
    let line = request_line_len("GET", &url);
    if line > MAX_REQUEST_LINE {
        return Err(Fault::Tool(format!(
            "recall_memory failed: the query is too long: percent-encoded it takes {} bytes of the URL, \
             at most {} fit (a letter or digit takes 1, other ASCII 3, a CJK character 9). \
             Shorten the query to a few key words.",
            line - without - SEPARATOR,
            MAX_REQUEST_LINE.saturating_sub(without + SEPARATOR)
        )));
    }
    let response = acting.get(url).map_err(fail)?;
    let status = response.status;
    let memories = match success_json(response).map_err(fail)? {
        Value::Array(list) => list,
        other => {
            return Err(fail(Failure::Unexpected {
                status,
                snippet: snippet(other.to_string().as_bytes()),
            }))
        }
    };
    let lines: Vec<String> = memories.iter().filter_map(memory_line).collect();
    if lines.is_empty() {
        return Ok(text(match query {
            Some(q) => format!("No memories match {q:?}."),
            None => "No memories saved yet.".to_string(),
        }));
    }
    Ok(text(lines.join("\n")))
}

/// `[SCOPE] content`, on one line.
fn memory_line(memory: &Value) -> Option<String> {
    let content = memory.get("content").and_then(Value::as_str)?;
    let scope = memory
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| display(s, 16))
        .unwrap_or_else(|| "?".into());
    Some(format!("[{scope}] {}", display(content, MAX_MEMORY_CHARS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_are_one_line_each() {
        let m = json!({"id": "1", "content": "the build\nuses make", "scope": "TEAM"});
        assert_eq!(
            memory_line(&m).as_deref(),
            Some("[TEAM] the build uses make")
        );
        assert_eq!(
            memory_line(&json!({"content": "x"})).as_deref(),
            Some("[?] x")
        );
        assert_eq!(memory_line(&json!({"scope": "LOCAL"})), None);
    }
}

//! `/workspaces/{src}/memories`: commit and recall.

use serde_json::{json, Value};

use super::http::{Answer, HttpRequest};
use super::routes::{authorize, Now};
use super::state::{Memory, State};
use super::time;
use super::wire::{error, json_answer, json_body, query_param, str_field};

const SCOPES: [&str; 3] = ["LOCAL", "TEAM", "GLOBAL"];

pub fn commit(st: &mut State, req: &HttpRequest, src: &str, now: Now) -> Answer {
    if let Err(a) = authorize(st, src, req) {
        return a;
    }
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(content) = str_field(&body, "content").map(str::to_string) else {
        return error(400, "content is required");
    };
    let scope = str_field(&body, "scope").unwrap_or("LOCAL").to_string();
    if !SCOPES.contains(&scope.as_str()) {
        return error(400, "scope must be LOCAL, TEAM or GLOBAL");
    }
    // The simulator has one team: every workspace shares TEAM memories.
    let namespace = match scope.as_str() {
        "LOCAL" => src.to_string(),
        "TEAM" => "team".to_string(),
        _ => "global".to_string(),
    };
    let id = st.new_id();
    st.memories.push(Memory {
        id: id.clone(),
        workspace_id: src.to_string(),
        content,
        scope: scope.clone(),
        namespace: namespace.clone(),
        created: now.wall,
    });
    json_answer(
        201,
        &json!({"id": id, "scope": scope, "namespace": namespace}),
    )
}

pub fn recall(st: &State, req: &HttpRequest, src: &str) -> Answer {
    if let Err(a) = authorize(st, src, req) {
        return a;
    }
    let q = query_param(&req.query, "q")
        .unwrap_or_default()
        .to_lowercase();
    let scope = query_param(&req.query, "scope").filter(|s| !s.is_empty());
    if scope.as_deref().is_some_and(|s| !SCOPES.contains(&s)) {
        return error(400, "scope must be LOCAL, TEAM or GLOBAL");
    }
    let rows: Vec<Value> = st
        .memories
        .iter()
        .rev()
        .filter(|m| m.scope != "LOCAL" || m.workspace_id == src)
        .filter(|m| scope.as_deref().is_none_or(|s| m.scope == s))
        .filter(|m| m.content.to_lowercase().contains(&q))
        .take(50)
        .map(|m| {
            json!({
                "id": m.id,
                "content": m.content,
                "scope": m.scope,
                "namespace": m.namespace,
                "created_at": time::format(m.created),
            })
        })
        .collect();
    json_answer(200, &Value::Array(rows))
}

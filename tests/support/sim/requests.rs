//! `/workspaces/{ws}/requests` (a task or approval raised to the user) and
//! `/workspaces/{ws}/plugins` (a plugin install), as the runtime's platform
//! serves them.

use serde_json::json;

use super::http::{Answer, HttpRequest};
use super::routes::authorize;
use super::state::State;
use super::wire::{error, json_answer, json_body, str_field};

pub fn raise(st: &mut State, req: &HttpRequest, ws: &str) -> Answer {
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    if !matches!(str_field(&body, "kind"), Some("task" | "approval")) {
        return error(400, "kind must be task or approval");
    }
    if str_field(&body, "recipient_type") != Some("user") {
        return error(400, "recipient_type must be user");
    }
    if str_field(&body, "title").is_none_or(|t| t.trim().is_empty()) {
        return error(400, "title is required");
    }
    let id = st.new_id();
    st.requests.push((ws.to_string(), body));
    json_answer(201, &json!({"request_id": id, "status": "pending"}))
}

pub fn install_plugin(st: &mut State, req: &HttpRequest, ws: &str) -> Answer {
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(source) = str_field(&body, "source").map(str::to_string) else {
        return error(400, "source is required");
    };
    let Some((scheme, rest)) = source.split_once("://") else {
        return json_answer(
            422,
            &json!({
                "error": "unrecognised plugin source",
                "hint": "use github://owner/repo or local://name",
            }),
        );
    };
    if !st.plugin_allowlist.iter().any(|a| source.starts_with(a)) {
        return error(403, "plugin source is not on the allowlist");
    }
    let plugin = rest.rsplit('/').next().unwrap_or(scheme).to_string();
    st.plugins.push((ws.to_string(), body));
    json_answer(
        200,
        &json!({"plugin": plugin, "source": source, "restarting": true}),
    )
}

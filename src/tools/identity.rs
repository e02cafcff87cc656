//! `get_runtime_identity` (no network: what this process was configured as)
//! and `update_agent_card`.

use serde_json::{json, Map, Value};

use super::args::Args;
use super::errors::{explain, About};
use super::result::{json_value, text, Fault, Outcome};
use super::route::success;
use super::Toolbox;
use crate::config::EnvMap;
use crate::mcp::context::CallContext;
use crate::redact::redact;

/// The variables reported, with the keys they are reported under.
const VARIABLES: [(&str, &str); 5] = [
    ("model", "MODEL"),
    ("model_provider", "MODEL_PROVIDER"),
    ("molecule_model", "MOLECULE_MODEL"),
    ("anthropic_base_url", "ANTHROPIC_BASE_URL"),
    ("tier", "TIER"),
];

fn variable(env: &EnvMap, name: &str) -> Value {
    match env
        .get(name)
        .map(|v| v.to_string_lossy().trim().to_string())
    {
        Some(v) if !v.is_empty() => Value::String(redact(&v)),
        _ => Value::Null,
    }
}

/// A URL without credentials: no `user:pass@`, no query, no fragment.
fn safe_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

pub fn get_runtime_identity(tools: &Toolbox, _args: &Args, _ctx: &CallContext) -> Outcome {
    let mut identity = Map::new();
    for (key, name) in VARIABLES {
        let mut value = variable(&tools.env, name);
        if key == "anthropic_base_url" {
            if let Value::String(url) = &value {
                value = Value::String(safe_url(url));
            }
        }
        identity.insert(key.into(), value);
    }
    let primary = tools.primary();
    identity.insert("workspace_id".into(), json!(primary.map(|w| &w.id)));
    if tools.multi {
        let ids: Vec<&str> = tools.workspaces.iter().map(|w| w.id.as_str()).collect();
        identity.insert("workspace_ids".into(), json!(ids));
    }
    identity.insert(
        "platform_url".into(),
        json!(primary.map(|w| safe_url(&w.platform_url))),
    );
    identity.insert(
        "agent_name".into(),
        json!(primary.map(|w| &w.agent_card.name)),
    );
    identity.insert(
        "runtime".into(),
        json!(concat!("molecule-mcp ", env!("CARGO_PKG_VERSION"))),
    );
    Ok(json_value(Value::Object(identity)))
}

pub fn update_agent_card(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let card = args.object("card")?;
    // The card belongs to the primary workspace and is sent with its token.
    let acting = tools.acting("workspace_id", None, None)?;
    let src = acting.id();
    let body = json!({"workspace_id": src, "agent_card": card});
    acting
        .post(acting.url(&["registry", "update-card"]), body)
        .and_then(success)
        .map_err(|f| Fault::Tool(explain("update_agent_card", About::Own(src), &f)))?;
    Ok(text(format!(
        "The agent card of workspace {src} was updated."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            safe_url("https://u:p@api.example.com/v1?key=x#f"),
            "https://api.example.com/v1"
        );
        assert_eq!(
            safe_url("https://api.example.com"),
            "https://api.example.com"
        );
        assert_eq!(safe_url("http://a@b@host:8080/p"), "http://host:8080/p");
        assert_eq!(safe_url("not a url"), "not a url");
    }
}

//! Which handler serves a request, and the token rule every handler shares.

use std::time::{Instant, SystemTime};

use serde_json::json;

use super::http::{Answer, HttpRequest};
use super::state::State;
use super::wire::{bare_404, bearer, error, json_answer};
use super::{activity, memories, messaging, registry, requests};

/// The time a request is served at, handed to every handler.
#[derive(Clone, Copy)]
pub struct Now {
    pub wall: SystemTime,
    pub mono: Instant,
}

pub fn handle(st: &mut State, req: &HttpRequest, now: Now) -> Answer {
    st.advance(now.mono, now.wall);
    let segments: Vec<&str> = req
        .path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let method = req.method.as_str();
    if segments == ["health"] {
        return json_answer(200, &json!({"status": "ok"}));
    }
    if st.settings.require_origin && req.header("origin") != Some(st.url.as_str()) {
        return bare_404();
    }
    match (method, segments.as_slice()) {
        ("POST", ["registry", "register"]) => registry::register(st, req),
        ("POST", ["registry", "heartbeat"]) => registry::heartbeat(st, req),
        ("POST", ["registry", "update-card"]) => registry::update_card(st, req),
        ("GET", ["registry", "discover", target]) => registry::discover(st, req, target),
        ("GET", ["registry", src, "peers"]) => registry::peers(st, req, src),
        ("GET", ["workspaces", id]) => registry::workspace_info(st, req, id),
        ("POST", ["workspaces", target, "a2a"]) => messaging::a2a(st, req, target, now),
        ("POST", ["workspaces", src, "delegate"]) => messaging::delegate(st, req, src, now),
        ("GET", ["workspaces", src, "delegations"]) => messaging::delegations(st, req, src),
        ("POST", ["workspaces", ws, "notify"]) => messaging::notify(st, req, ws, now),
        ("POST", ["workspaces", ws, "broadcast"]) => messaging::broadcast(st, req, ws, now),
        ("POST", ["workspaces", ws, "chat", "uploads"]) => messaging::upload(st, req, ws),
        ("POST", ["workspaces", src, "memories"]) => memories::commit(st, req, src, now),
        ("GET", ["workspaces", src, "memories"]) => memories::recall(st, req, src),
        ("POST", ["workspaces", ws, "requests"]) => requests::raise(st, req, ws),
        ("POST", ["workspaces", ws, "plugins"]) => requests::install_plugin(st, req, ws),
        ("GET", ["workspaces", ws, "activity"]) => activity::list(st, req, ws, now),
        ("POST", ["workspaces", ws, "activity"]) => activity::report(st, req, ws, now),
        ("POST", ["workspaces", ws, "activity", "ack"]) => activity::ack(st, req, ws),
        _ => error(404, "no such route"),
    }
}

/// The C18 rule: a workspace with a live token accepts only that token.
/// A deleted workspace's tokens are revoked, so it accepts none.
pub fn authorize(st: &State, ws: &str, req: &HttpRequest) -> Result<(), Answer> {
    let Some(w) = st.workspace(ws) else {
        return Err(json_answer(
            404,
            &json!({"error": "workspace not found", "id": ws}),
        ));
    };
    if !w.is_live() {
        return Err(error(401, "invalid or revoked token"));
    }
    match &w.token {
        Some(token) if bearer(req) != Some(token.as_str()) => {
            Err(error(401, "missing or invalid workspace token"))
        }
        _ => Ok(()),
    }
}

/// The workspace a request acts as: `X-Workspace-ID`, else the workspace
/// whose token it carries.
pub fn caller(st: &State, req: &HttpRequest) -> Result<String, Answer> {
    if let Some(id) = req.header("x-workspace-id").filter(|s| !s.is_empty()) {
        authorize(st, id, req)?;
        return Ok(id.to_string());
    }
    let token = bearer(req).ok_or_else(|| error(401, "missing workspace token"))?;
    st.workspaces
        .iter()
        .find(|w| w.is_live() && w.token.as_deref() == Some(token))
        .map(|w| w.id.clone())
        .ok_or_else(|| error(401, "invalid or revoked token"))
}

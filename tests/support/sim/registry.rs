//! `/registry/*` and `GET /workspaces/{id}`: who a workspace is and whether
//! it is alive.

use serde_json::{json, Value};

use super::http::{Answer, HttpRequest};
use super::routes::{authorize, caller};
use super::state::{Peer, State};
use super::wire::{error, json_answer, json_body, str_field};

pub fn register(st: &mut State, req: &HttpRequest) -> Answer {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(id) = str_field(&body, "id") else {
        return error(400, "id is required");
    };
    let id = id.to_string();
    let minted = match st.workspace(&id) {
        Some(w) if w.token.is_none() && w.is_live() => {
            // First registration: no token exists yet, so none is required.
            Some(st.new_secret("tok"))
        }
        _ => {
            if let Err(a) = authorize(st, &id, req) {
                return a;
            }
            None
        }
    };
    let Some(w) = st.workspace_mut(&id) else {
        return error(404, "workspace not found");
    };
    w.registered = true;
    w.status = "online".into();
    if let Some(card) = body.get("agent_card").filter(|c| c.is_object()) {
        w.agent_card = card.clone();
        if let Some(name) = str_field(card, "name") {
            w.name = name.to_string();
        }
    }
    let mut answer = json!({
        "status": "registered",
        "platform_inbound_secret": w.inbound_secret,
    });
    if let Some(token) = minted {
        w.token = Some(token.clone());
        answer["auth_token"] = json!(token);
    }
    json_answer(200, &answer)
}

pub fn heartbeat(st: &mut State, req: &HttpRequest) -> Answer {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(id) = str_field(&body, "workspace_id").map(str::to_string) else {
        return error(400, "workspace_id is required");
    };
    if let Err(a) = authorize(st, &id, req) {
        return a;
    }
    let Some(w) = st.workspace_mut(&id) else {
        return error(404, "workspace not found");
    };
    w.heartbeats += 1;
    w.status = "online".into();
    let mut answer = json!({"status": "ok", "platform_inbound_secret": w.inbound_secret});
    if let Some(generation) = w.generation {
        answer["generation"] = json!(generation);
    }
    json_answer(200, &answer)
}

pub fn update_card(st: &mut State, req: &HttpRequest) -> Answer {
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(id) = str_field(&body, "workspace_id").map(str::to_string) else {
        return error(400, "workspace_id is required");
    };
    let Some(card) = body.get("agent_card").filter(|c| c.is_object()).cloned() else {
        return error(400, "agent_card must be an object");
    };
    if let Err(a) = authorize(st, &id, req) {
        return a;
    }
    if let Some(w) = st.workspace_mut(&id) {
        w.agent_card = card;
    }
    json_answer(200, &json!({"status": "updated"}))
}

pub fn discover(st: &State, req: &HttpRequest, target: &str) -> Answer {
    if let Err(a) = caller(st, req) {
        return a;
    }
    let Some(t) = st.workspace(target).filter(|w| w.is_live()) else {
        return error(404, "workspace not found");
    };
    match t.peer {
        Peer::Forbidden => error(403, "not allowed to talk to this workspace"),
        Peer::Unavailable => error(503, "workspace not available"),
        _ => json_answer(
            200,
            &json!({
                "id": t.id,
                "url": format!("{}/workspaces/{}/a2a", st.url, t.id),
                "name": t.name,
            }),
        ),
    }
}

pub fn peers(st: &State, req: &HttpRequest, src: &str) -> Answer {
    if let Err(a) = authorize(st, src, req) {
        return a;
    }
    let list: Vec<Value> = st.peers_of(src).iter().map(|w| w.info(&st.url)).collect();
    json_answer(200, &Value::Array(list))
}

pub fn workspace_info(st: &State, req: &HttpRequest, id: &str) -> Answer {
    // A deleted workspace says so to anyone: its tokens no longer exist.
    if let Some(removed_at) = st.workspace(id).and_then(|w| w.removed_at.as_ref()) {
        return json_answer(
            410,
            &json!({
                "error": "workspace removed",
                "id": id,
                "removed_at": removed_at,
                "hint": "this workspace was deleted; create a new one in the canvas and \
                         generate a token in its Tokens tab",
            }),
        );
    }
    if let Err(a) = authorize(st, id, req) {
        return a;
    }
    match st.workspace(id) {
        Some(w) => json_answer(200, &w.info(&st.url)),
        None => error(404, "workspace not found"),
    }
}

//! Talking to peers and users: A2A, delegations, notify, broadcast, uploads.

use serde_json::{json, Value};

use super::http::{Answer, HttpRequest};
use super::multipart;
use super::routes::{authorize, caller, Now};
use super::state::{summary, Delegation, Peer, State, Upload};
use super::wire::{error, json_answer, json_body, str_field};

pub fn a2a(st: &mut State, req: &HttpRequest, target: &str, now: Now) -> Answer {
    let src = match caller(st, req) {
        Ok(s) => s,
        Err(a) => return a,
    };
    let Some(peer) = st
        .workspace(target)
        .filter(|w| w.is_live())
        .map(|w| w.peer.clone())
    else {
        return error(404, "workspace not found");
    };
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(task) = message_text(&body) else {
        return error(400, "expected a JSON-RPC message/send with text parts");
    };
    let rpc_id = body.get("id").cloned().unwrap_or(Value::Null);
    let answer = match &peer {
        Peer::Budget => return error(402, "budget exceeded for this workspace"),
        Peer::Forbidden => return error(403, "the hierarchy does not allow this call"),
        Peer::Unavailable => return error(503, "workspace not available"),
        Peer::Busy { retry_after_secs } => {
            let mut a = error(503, "workspace busy");
            if let Answer::Respond { headers, .. } = &mut a {
                headers.push(("Retry-After".into(), retry_after_secs.to_string()));
            }
            return a;
        }
        Peer::PollMode => json!({
            "status": "queued",
            "delivery_mode": "poll",
            "target_id": target,
            "message": "the workspace picks messages up on its next poll",
        }),
        Peer::Queued => json!({"queued": true, "target_id": target}),
        Peer::Echo | Peer::Reply(_) => {
            let message_id = st.new_id();
            json!({
                "jsonrpc": "2.0",
                "id": rpc_id,
                "result": {
                    "kind": "message",
                    "role": "agent",
                    "messageId": message_id,
                    "parts": [{"kind": "text", "text": peer.answer_text(&task)}],
                },
            })
        }
    };
    st.deliver(target, Some(&src), &task, now.wall);
    st.push_row(
        &src,
        "a2a_send",
        Some(src.clone()),
        Some(target.to_string()),
        "message/send",
        &task,
        body,
        answer.clone(),
        now.wall,
    );
    json_answer(200, &answer)
}

/// The concatenated text parts of a `message/send` body.
fn message_text(body: &Value) -> Option<String> {
    let parts = body.pointer("/params/message/parts")?.as_array()?;
    let text: String = parts
        .iter()
        .filter(|p| p.get("kind").or_else(|| p.get("type")) == Some(&json!("text")))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    Some(text)
}

pub fn delegate(st: &mut State, req: &HttpRequest, src: &str, now: Now) -> Answer {
    if let Err(a) = authorize(st, src, req) {
        return a;
    }
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let (Some(target), Some(task)) = (str_field(&body, "target_id"), str_field(&body, "task"))
    else {
        return error(400, "target_id and task are required");
    };
    let key = str_field(&body, "idempotency_key").map(str::to_string);
    if let Some(hit) = st
        .delegations
        .iter()
        .find(|d| d.source_id == src && key.is_some() && d.idempotency_key == key)
    {
        return json_answer(
            200,
            &json!({
                "delegation_id": hit.id,
                "status": hit.status,
                "target_id": hit.target_id,
                "idempotent_hit": true,
            }),
        );
    }
    let Some(peer) = st
        .workspace(target)
        .filter(|w| w.is_live())
        .map(|w| w.peer.clone())
    else {
        return error(404, "target workspace not found");
    };
    match peer {
        Peer::Budget => return error(402, "budget exceeded for this workspace"),
        Peer::Forbidden => return error(403, "the hierarchy does not allow this delegation"),
        _ => {}
    }
    let (target, task) = (target.to_string(), task.to_string());
    let id = st.new_id();
    st.delegations.push(Delegation {
        id: id.clone(),
        source_id: src.to_string(),
        target_id: target.clone(),
        task: task.clone(),
        idempotency_key: key,
        status: "pending".into(),
        created: now.wall,
        created_mono: now.mono,
        updated: now.wall,
        response_preview: None,
        error: None,
    });
    st.deliver(&target, Some(src), &task, now.wall);
    json_answer(
        202,
        &json!({"delegation_id": id, "status": "delegated", "target_id": target}),
    )
}

pub fn delegations(st: &State, req: &HttpRequest, src: &str) -> Answer {
    if let Err(a) = authorize(st, src, req) {
        return a;
    }
    let rows: Vec<Value> = st
        .delegations
        .iter()
        .rev()
        .filter(|d| d.source_id == src)
        .take(50)
        .map(Delegation::to_json)
        .collect();
    json_answer(200, &Value::Array(rows))
}

pub fn notify(st: &mut State, req: &HttpRequest, ws: &str, now: Now) -> Answer {
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    if st.workspace(ws).is_some_and(|w| !w.talk_to_user) {
        return json_answer(
            403,
            &json!({
                "error": "talk_to_user_disabled",
                "hint": "this workspace may not message the user directly; \
                         reply through the peer that asked",
            }),
        );
    }
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(message) = str_field(&body, "message").map(str::to_string) else {
        return error(400, "message is required");
    };
    if body
        .get("attachments")
        .is_some_and(|a| !a.is_array() && !a.is_null())
    {
        return error(400, "attachments must be an array");
    }
    st.notifications.push((ws.to_string(), body.clone()));
    // The platform files the agent's own message in its feed; pollers must
    // recognise and skip it.
    st.push_row(
        ws,
        "a2a_receive",
        None,
        Some(ws.to_string()),
        "notify",
        &message,
        body,
        Value::Null,
        now.wall,
    );
    json_answer(200, &json!({"status": "sent"}))
}

pub fn broadcast(st: &mut State, req: &HttpRequest, ws: &str, now: Now) -> Answer {
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    if st.workspace(ws).is_some_and(|w| !w.broadcast) {
        return json_answer(
            403,
            &json!({
                "error": "broadcast_disabled",
                "hint": "an administrator can enable broadcast for this workspace in the canvas",
            }),
        );
    }
    let body = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let Some(message) = str_field(&body, "message").map(str::to_string) else {
        return error(400, "message is required");
    };
    let peers: Vec<String> = st.peers_of(ws).iter().map(|w| w.id.clone()).collect();
    for peer in &peers {
        st.deliver(peer, Some(ws), &message, now.wall);
    }
    st.broadcasts.push((ws.to_string(), body));
    json_answer(200, &json!({"delivered": peers.len()}))
}

pub fn upload(st: &mut State, req: &HttpRequest, ws: &str) -> Answer {
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    let Some(boundary) = req.header("content-type").and_then(multipart::boundary) else {
        return error(400, "expected multipart/form-data with a boundary");
    };
    let Some(parts) = multipart::parse(&req.body, &boundary) else {
        return error(400, "malformed multipart body");
    };
    let mut files = Vec::new();
    for part in parts.into_iter().filter(|p| p.name == "files") {
        let Some(name) = part.filename.filter(|n| !n.is_empty()) else {
            continue;
        };
        let id = st.new_id();
        let upload = Upload {
            workspace_id: ws.to_string(),
            uri: format!("workspace:/uploads/{id}/{name}"),
            mime_type: part
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            name: summary(&name),
            bytes: part.data,
        };
        files.push(json!({
            "uri": upload.uri,
            "name": upload.name,
            "mimeType": upload.mime_type,
            "size": upload.bytes.len(),
        }));
        st.uploads.push(upload);
    }
    if files.is_empty() {
        return error(400, "no `files` parts with a filename");
    }
    json_answer(200, &json!({"files": files}))
}

//! `/workspaces/{ws}/activity`: the inbox feed, chat history, reports, acks.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{Answer, HttpRequest};
use super::routes::{authorize, Now};
use super::state::{ActivityRow, State};
use super::time;
use super::wire::{error, json_answer, json_body, query_param, str_field};

/// The platform never answers more rows than this.
const MAX_ROWS: usize = 100;

pub fn list(st: &State, req: &HttpRequest, ws: &str, now: Now) -> Answer {
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    let q = |name: &str| query_param(&req.query, name).filter(|v| !v.is_empty());
    let limit = match q("limit").map(|l| l.parse::<usize>()) {
        None => MAX_ROWS,
        Some(Ok(n)) => n.min(MAX_ROWS),
        Some(Err(_)) => return error(400, "limit must be a number"),
    };
    let kind = q("type");
    let feed: Vec<&ActivityRow> = st
        .activity
        .iter()
        .filter(|r| r.workspace_id == ws)
        .filter(|r| kind.as_deref().is_none_or(|k| r.activity_type == k))
        .collect();
    let with_seq = st.settings.rows_have_seq;
    let rows: Vec<&ActivityRow> = if let Some(peer) = q("peer_id") {
        let before = match q("before_ts").map(|t| time::parse_millis(&t)) {
            None => None,
            Some(Some(ms)) => Some(ms),
            Some(None) => return error(400, "before_ts must be an RFC 3339 timestamp"),
        };
        feed.iter()
            .rev()
            .filter(|r| r.activity_type.starts_with("a2a"))
            .filter(|r| {
                r.source_id.as_deref() == Some(peer.as_str())
                    || r.target_id.as_deref() == Some(peer.as_str())
            })
            .filter(|r| before.is_none_or(|b| time::millis(r.created) < b))
            .take(limit)
            .copied()
            .collect()
    } else if let Some(cursor) = q("since_id") {
        // The cursor may be any row of the feed, whatever its type; rows
        // are stored in `seq` order.
        let Some(after) = st
            .activity
            .iter()
            .find(|r| r.workspace_id == ws && r.id == cursor)
            .map(|r| r.seq)
        else {
            return json_answer(
                410,
                &json!({"error": "cursor row no longer exists", "since_id": cursor}),
            );
        };
        feed.iter()
            .filter(|r| r.seq > after)
            .take(limit)
            .copied()
            .collect()
    } else {
        let window = match q("since_secs").map(|s| s.parse::<u64>()) {
            None => None,
            Some(Ok(secs)) => Some(time::ago(now.wall, Duration::from_secs(secs))),
            Some(Err(_)) => return error(400, "since_secs must be a number"),
        };
        feed.iter()
            .rev()
            .filter(|r| window.is_none_or(|w| r.created >= w))
            .take(limit)
            .copied()
            .collect()
    };
    let peer_info = st.settings.peer_info
        && q("include").is_some_and(|i| i.split(',').any(|x| x == "peer_info"));
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = r.to_json(with_seq);
            let peer = r.source_id.as_deref().and_then(|id| st.workspace(id));
            if let (true, Some(peer)) = (peer_info, peer) {
                v["peer_name"] = json!(peer.name);
                v["peer_role"] = json!(peer.role);
                v["agent_card_url"] = json!(format!("{}/registry/discover/{}", st.url, peer.id));
            }
            v
        })
        .collect();
    json_answer(200, &Value::Array(rows))
}

pub fn report(st: &mut State, req: &HttpRequest, ws: &str, now: Now) -> Answer {
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    let body = match json_body(req) {
        Ok(b) if b.is_object() => b,
        Ok(_) => return error(400, "expected a JSON object"),
        Err(a) => return a,
    };
    let field = |k: &str| str_field(&body, k).map(str::to_string);
    let id = st.push_row(
        ws,
        &field("activity_type").unwrap_or_else(|| "report".into()),
        field("source_id"),
        field("target_id"),
        &field("method").unwrap_or_default(),
        &field("summary").unwrap_or_default(),
        body.clone(),
        Value::Null,
        now.wall,
    );
    if let Some(status) = field("status") {
        if let Some(row) = st.activity.iter_mut().find(|r| r.id == id) {
            row.status = status;
        }
    }
    json_answer(200, &json!({"status": "ok", "id": id}))
}

pub fn ack(st: &mut State, req: &HttpRequest, ws: &str) -> Answer {
    if !st.settings.acks_supported {
        return error(404, "no such route");
    }
    if let Err(a) = authorize(st, ws, req) {
        return a;
    }
    let seq = match json_body(req) {
        Ok(b) => b.get("acked_seq").and_then(Value::as_i64),
        Err(a) => return a,
    };
    let Some(seq) = seq else {
        return error(400, "acked_seq must be an integer");
    };
    let Some(w) = st.workspace_mut(ws) else {
        return error(404, "workspace not found");
    };
    let acked = w.acked_seq.map_or(seq, |old| old.max(seq));
    w.acked_seq = Some(acked);
    json_answer(200, &json!({"acked_seq": acked}))
}

//! One activity row of the inbox feed turned into a message (platform.md
//! §7). Rows come from the network: every field is checked, and a row that
//! cannot be read is reported, never trusted and never a panic.

use serde_json::{Map, Value};

use super::attachment;
use super::message::{cap_text, Kind, Message, MAX_TEXT_BYTES};
use super::safe;
use crate::platform::http;

/// The text of a row that carries none.
pub const EMPTY_TEXT: &str = "(empty A2A message)";

/// Where a row arrived.
pub struct Arrival<'a> {
    pub workspace_id: &'a str,
    pub platform_url: &'a str,
    pub multi: bool,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Message(Box<Message>),
    /// The agent's own notify row or its own echo: not for the agent.
    Own,
    /// Unreadable; the text says why.
    Bad(String),
}

/// The row's id when it is one we can use as a cursor.
pub fn row_id(row: &Value) -> Option<String> {
    let id = match row.get("id")? {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        _ => return None,
    };
    safe::is_id(&id).then_some(id)
}

pub fn parse(row: &Value, at: &Arrival<'_>) -> Parsed {
    let Some(fields) = row.as_object() else {
        return Parsed::Bad("the row is not a JSON object".into());
    };
    let Some(activity_id) = row_id(row) else {
        return Parsed::Bad("the row has no usable id".into());
    };
    // The feed is read without a type filter: only these types are
    // messages (a row without a type is an inbox row of an older server).
    let upload = match fields.get("activity_type").and_then(Value::as_str) {
        None | Some("a2a_receive") => false,
        Some("chat_upload_receive") => true,
        Some(_) => return Parsed::Own,
    };
    let peer_id = match fields.get("source_id") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.is_empty() => String::new(),
        Some(Value::String(s)) if safe::is_id(s) => s.clone(),
        Some(_) => return Parsed::Bad(format!("row {activity_id} has an unusable source_id")),
    };
    let method = match fields.get("method") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.chars().take(128).collect(),
        Some(_) => return Parsed::Bad(format!("row {activity_id} has a method that is not text")),
    };
    if (method == "notify" && peer_id.is_empty())
        || (peer_id == at.workspace_id && method != "delegate_result")
    {
        return Parsed::Own;
    }
    let kind = if upload {
        // Files the person in the canvas uploaded.
        Kind::CanvasUser
    } else if method == "delegate_result" {
        Kind::DelegationResult
    } else if !peer_id.is_empty() {
        Kind::PeerAgent
    } else {
        Kind::CanvasUser
    };
    let created_at = fields
        .get("created_at")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(64).collect())
        .unwrap_or_default();
    // With `include=peer_info` the row names the peer itself.
    let agent_card_url = (!peer_id.is_empty()).then(|| {
        fields
            .get("agent_card_url")
            .and_then(Value::as_str)
            .filter(|u| safe::is_web_url(u))
            .map(str::to_string)
            .unwrap_or_else(|| http::url(at.platform_url, &["registry", "discover", &peer_id]))
    });
    let text_field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| fields.get(*k).and_then(Value::as_str))
            .and_then(safe::display_name)
    };
    let peer_name = text_field(&["source_name", "peer_name"]);
    let peer_role = text_field(&["peer_role", "source_role"]);
    let body = request_body(fields);
    let attachments = attachment::of_row(fields, &body);
    let mut text = text_of(fields, &body);
    if text == EMPTY_TEXT && !attachments.is_empty() {
        text = format!("({} attached)", plural(attachments.len(), "file"));
    }
    Parsed::Message(Box::new(Message {
        activity_id,
        text: cap_text(text),
        peer_id,
        kind,
        method,
        created_at,
        arrival_workspace_id: at.multi.then(|| at.workspace_id.to_string()),
        agent_card_url,
        peer_name,
        peer_role,
        attachments,
        seq: fields.get("seq").and_then(Value::as_i64),
        workspace_id: at.workspace_id.to_string(),
    }))
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The row's `request_body`; some servers store it as a JSON string.
fn request_body(fields: &Map<String, Value>) -> Value {
    match fields.get("request_body") {
        Some(Value::String(s)) => crate::bounded_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

/// The first source that holds text: the A2A message's parts, the params'
/// parts, the body's parts, the summary; else a placeholder.
fn text_of(fields: &Map<String, Value>, body: &Value) -> String {
    let sources = [
        body.pointer("/params/message/parts"),
        body.pointer("/params/parts"),
        body.get("parts"),
    ];
    if let Some(text) = sources.into_iter().flatten().find_map(text_parts) {
        return text;
    }
    match fields.get("summary").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => s.to_string(),
        _ => EMPTY_TEXT.to_string(),
    }
}

/// The text parts joined by newlines; `None` when there is no text at all.
/// Stops collecting once past the cap, so a huge body costs no more memory
/// than the message it becomes.
fn text_parts(parts: &Value) -> Option<String> {
    let mut out = String::new();
    for part in parts.as_array()? {
        let is_text = ["kind", "type"]
            .iter()
            .any(|k| part.get(*k).and_then(Value::as_str) == Some("text"));
        let Some(text) = part.get("text").and_then(Value::as_str).filter(|_| is_text) else {
            continue;
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(text);
        if out.len() > MAX_TEXT_BYTES {
            break;
        }
    }
    (!out.trim().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WS: &str = "11111111-2222-4333-8444-555555555555";
    const PEER: &str = "99999999-8888-4777-8666-555555555555";

    fn at(multi: bool) -> Arrival<'static> {
        Arrival {
            workspace_id: WS,
            platform_url: "http://plat",
            multi,
        }
    }

    fn message(row: Value) -> Message {
        match parse(&row, &at(false)) {
            Parsed::Message(m) => *m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn parts_body(text: &str) -> Value {
        json!({"params": {"message": {"parts": [{"kind": "text", "text": text}]}}})
    }

    #[test]
    fn canvas_message_from_message_parts() {
        let m = message(json!({
            "id": "r1", "source_id": null, "method": "message/send",
            "request_body": parts_body("hello"), "summary": "ignored",
            "created_at": "2026-01-01T00:00:00Z", "seq": 7,
        }));
        assert_eq!(m.activity_id, "r1");
        assert_eq!(m.text, "hello");
        assert_eq!(m.peer_id, "");
        assert_eq!(m.kind, Kind::CanvasUser);
        assert_eq!(m.created_at, "2026-01-01T00:00:00Z");
        assert_eq!(m.seq, Some(7));
        assert_eq!(m.agent_card_url, None);
        assert_eq!(m.arrival_workspace_id, None);
        assert_eq!(m.workspace_id, WS);
    }

    #[test]
    fn peer_message_has_card_url_and_arrival_in_multi_mode() {
        let row = json!({"id": "r2", "source_id": PEER, "method": "message/send",
            "request_body": parts_body("hi"), "source_name": "Bob <x>"});
        let Parsed::Message(m) = parse(&row, &at(true)) else {
            panic!("not a message")
        };
        assert_eq!(m.kind, Kind::PeerAgent);
        assert_eq!(m.peer_id, PEER);
        assert_eq!(
            m.agent_card_url.as_deref(),
            Some(format!("http://plat/registry/discover/{PEER}").as_str())
        );
        assert_eq!(m.arrival_workspace_id.as_deref(), Some(WS));
        assert_eq!(m.peer_name.as_deref(), Some("Bob x"));
    }

    #[test]
    fn delegation_result_from_own_workspace_is_kept() {
        let m = message(
            json!({"id": "r3", "source_id": WS, "method": "delegate_result",
            "request_body": parts_body("done")}),
        );
        assert_eq!(m.kind, Kind::DelegationResult);
        assert_eq!(m.text, "done");
    }

    #[test]
    fn only_receive_and_upload_rows_are_messages() {
        let row = |t: &str| {
            json!({"id": "r9", "activity_type": t, "source_id": null,
            "method": "message/send", "request_body": parts_body("x")})
        };
        assert_eq!(parse(&row("a2a_send"), &at(false)), Parsed::Own);
        assert_eq!(parse(&row("report"), &at(false)), Parsed::Own);
        assert_eq!(message(row("a2a_receive")).text, "x");
        let upload = message(json!({"id": "u1", "activity_type": "chat_upload_receive",
            "request_body": {"files": [{"uri": "workspace:/f.txt", "name": "f.txt"}]}}));
        assert_eq!(upload.kind, Kind::CanvasUser);
        assert_eq!(upload.text, "(1 file attached)");
        assert_eq!(upload.attachments.len(), 1);
    }

    #[test]
    fn peer_info_fields_are_used_when_safe() {
        let m = message(
            json!({"id": "r3", "source_id": PEER, "request_body": parts_body("hi"),
            "peer_name": "Ann\n[from canvas user]", "peer_role": "<b>lead</b>",
            "agent_card_url": "https://plat/cards/p"}),
        );
        assert_eq!(m.peer_name.as_deref(), Some("Annfrom canvas user"));
        assert_eq!(m.peer_role.as_deref(), Some("bleadb"));
        assert_eq!(m.agent_card_url.as_deref(), Some("https://plat/cards/p"));
        let m = message(
            json!({"id": "r4", "source_id": PEER, "request_body": parts_body("hi"),
            "agent_card_url": "javascript:alert(1)"}),
        );
        assert_eq!(
            m.agent_card_url,
            Some(format!("http://plat/registry/discover/{PEER}"))
        );
    }

    #[test]
    fn own_notify_and_own_echo_are_skipped() {
        let notify = json!({"id": "r4", "source_id": "", "method": "notify", "summary": "x"});
        assert_eq!(parse(&notify, &at(false)), Parsed::Own);
        let echo = json!({"id": "r5", "source_id": WS, "method": "message/send"});
        assert_eq!(parse(&echo, &at(false)), Parsed::Own);
        // A notify from a peer is a message.
        let peer_notify = json!({"id": "r6", "source_id": PEER, "method": "notify"});
        assert!(matches!(
            parse(&peer_notify, &at(false)),
            Parsed::Message(_)
        ));
    }

    #[test]
    fn every_text_source_in_order() {
        let params_parts = json!({"params": {"parts": [{"type": "text", "text": "B"}]}});
        assert_eq!(
            message(json!({"id": "a", "request_body": params_parts})).text,
            "B"
        );
        let body_parts = json!({"parts": [{"kind": "text", "text": "C"}]});
        assert_eq!(
            message(json!({"id": "a", "request_body": body_parts})).text,
            "C"
        );
        // Parts without text fall through to the summary.
        let files = json!({"params": {"message": {"parts": [{"kind": "file", "text": "no"}]}}});
        let m = message(json!({"id": "a", "request_body": files, "summary": "S"}));
        assert_eq!(m.text, "S");
        assert_eq!(message(json!({"id": "a"})).text, EMPTY_TEXT);
        assert_eq!(
            message(json!({"id": "a", "summary": "  "})).text,
            EMPTY_TEXT
        );
        let as_string = parts_body("D").to_string();
        assert_eq!(
            message(json!({"id": "a", "request_body": as_string})).text,
            "D"
        );
    }

    #[test]
    fn several_text_parts_are_joined_and_others_ignored() {
        let body = json!({"params": {"message": {"parts": [
            {"kind": "text", "text": "one"}, {"kind": "file", "uri": "f"},
            {"kind": "text", "text": 5}, {"type": "text", "text": "two"}, "junk", null,
        ]}}});
        assert_eq!(
            message(json!({"id": "a", "request_body": body})).text,
            "one\ntwo"
        );
    }

    #[test]
    fn malformed_rows_are_bad_not_panics() {
        for row in [
            json!(null),
            json!([1, 2]),
            json!("row"),
            json!({}),
            json!({"id": null}),
            json!({"id": ""}),
            json!({"id": "a/b"}),
            json!({"id": -3}),
            json!({"id": {"x": 1}}),
            json!({"id": "a", "source_id": 5}),
            json!({"id": "a", "source_id": "../../x"}),
            json!({"id": "a", "method": ["x"]}),
        ] {
            assert!(matches!(parse(&row, &at(false)), Parsed::Bad(_)), "{row}");
        }
        // Wrong types in optional fields are tolerated.
        let m = message(json!({"id": 12, "created_at": 5, "seq": "x", "summary": 3,
            "request_body": {"params": null}}));
        assert_eq!(m.activity_id, "12");
        assert_eq!((m.created_at.as_str(), m.seq), ("", None));
        assert_eq!(m.text, EMPTY_TEXT);
    }

    #[test]
    fn huge_text_is_capped() {
        let big = "x".repeat(MAX_TEXT_BYTES * 3);
        let m = message(json!({"id": "a", "request_body": parts_body(&big)}));
        assert!(m.text.len() < MAX_TEXT_BYTES + 200);
        assert!(m.text.contains("truncated"));
    }

    #[test]
    fn row_id_accepts_strings_and_unsigned_numbers_only() {
        assert_eq!(row_id(&json!({"id": "abc"})), Some("abc".into()));
        assert_eq!(row_id(&json!({"id": 42})), Some("42".into()));
        assert_eq!(row_id(&json!({"id": 4.5})), None);
        assert_eq!(row_id(&json!({"id": "a b"})), None);
        assert_eq!(row_id(&json!({})), None);
    }
}

//! A message waiting in the inbox, in the shape agents see (mcp-server.md
//! §2) and the shape it is kept in on disk.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::attachment::Attachment;

/// A message's text is capped: a runaway peer must not fill the agent's
/// context or the state directory.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Who a message comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A person typing in the canvas.
    CanvasUser,
    /// Another workspace's agent.
    PeerAgent,
    /// The answer to a task this workspace delegated.
    DelegationResult,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CanvasUser => "canvas_user",
            Kind::PeerAgent => "peer_agent",
            Kind::DelegationResult => "delegation_result",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub activity_id: String,
    pub text: String,
    /// Empty for the canvas user.
    pub peer_id: String,
    pub kind: Kind,
    pub method: String,
    pub created_at: String,
    /// Set in multi-workspace mode: the workspace the message arrived at.
    #[serde(default)]
    pub arrival_workspace_id: Option<String>,
    #[serde(default)]
    pub agent_card_url: Option<String>,
    #[serde(default)]
    pub peer_name: Option<String>,
    /// The peer's role, when the row carried it.
    #[serde(default)]
    pub peer_role: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// The row's `seq` on servers that acknowledge delivery.
    #[serde(default)]
    pub seq: Option<i64>,
    /// The workspace whose feed held the row (for acks and state files);
    /// never shown to the agent.
    pub workspace_id: String,
}

impl Message {
    /// The public shape: internal fields left out, absent options omitted.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("activity_id".into(), json!(self.activity_id));
        out.insert("text".into(), json!(self.text));
        out.insert("peer_id".into(), json!(self.peer_id));
        out.insert("kind".into(), json!(self.kind.as_str()));
        out.insert("method".into(), json!(self.method));
        out.insert("created_at".into(), json!(self.created_at));
        let optional = [
            ("arrival_workspace_id", &self.arrival_workspace_id),
            ("agent_card_url", &self.agent_card_url),
            ("peer_name", &self.peer_name),
            ("peer_role", &self.peer_role),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                out.insert(key.into(), json!(v));
            }
        }
        if !self.attachments.is_empty() {
            let list: Vec<Value> = self.attachments.iter().map(Attachment::to_json).collect();
            out.insert("attachments".into(), Value::Array(list));
        }
        Value::Object(out)
    }
}

/// Counts the bytes written through it and keeps none.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Message {
    /// The bytes this message takes in its queue file: what the queue's
    /// bound counts, so the file's size cap follows from the bound (a
    /// text of control characters takes six times its length there).
    pub fn stored_len(&self) -> usize {
        let mut counter = Counter(0);
        // Serialising plain strings and numbers cannot fail.
        let _ = serde_json::to_writer(&mut counter, self);
        counter.0
    }
}

/// `text` cut to [`MAX_TEXT_BYTES`] at a character boundary, with a note
/// saying how long it was, so the agent knows it did not see everything.
pub fn cap_text(text: String) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let total = text.len();
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut short = text;
    short.truncate(end);
    short.push_str(&format!(
        "\n[message truncated: {total} bytes in all, the first {end} shown]"
    ));
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            activity_id: "a1".into(),
            text: "hi".into(),
            peer_id: "p1".into(),
            kind: Kind::PeerAgent,
            method: "message/send".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            arrival_workspace_id: None,
            agent_card_url: Some("http://h/registry/discover/p1".into()),
            peer_name: None,
            peer_role: None,
            attachments: Vec::new(),
            seq: Some(4),
            workspace_id: "ws".into(),
        }
    }

    #[test]
    fn public_shape_leaves_out_internal_and_absent_fields() {
        let v = message().to_json();
        assert_eq!(
            v,
            json!({
                "activity_id": "a1", "text": "hi", "peer_id": "p1", "kind": "peer_agent",
                "method": "message/send", "created_at": "2026-01-01T00:00:00Z",
                "agent_card_url": "http://h/registry/discover/p1",
            })
        );
        let mut m = message();
        m.arrival_workspace_id = Some("ws".into());
        m.peer_name = Some("Bob".into());
        let v = m.to_json();
        assert_eq!(v["arrival_workspace_id"], "ws");
        assert_eq!(v["peer_name"], "Bob");
        assert!(v.get("seq").is_none() && v.get("workspace_id").is_none());
    }

    #[test]
    fn stored_shape_round_trips() {
        let m = message();
        let back: Message = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_a_note() {
        let short = "é".repeat(10);
        assert_eq!(cap_text(short.clone()), short);
        let long = "é".repeat(MAX_TEXT_BYTES);
        let cut = cap_text(long);
        assert!(cut.len() < MAX_TEXT_BYTES + 100, "{}", cut.len());
        assert!(cut.contains("message truncated"));
        assert!(cut.contains(&format!("{} bytes in all", MAX_TEXT_BYTES * 2)));
    }
}

//! The files a message carries. They come, first found wins, from the
//! row's `attachments`, from the A2A message's `file`, `image` or `audio`
//! parts, or from an upload manifest (`{"files": [...]}`, as
//! `POST /chat/uploads` answers). Only `workspace:` and `platform-pending:`
//! URIs are kept: they name files the platform put (or is putting) into
//! this workspace, never a place a peer chose.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// At most this many attachments per message.
const MAX_ATTACHMENTS: usize = 32;
const MAX_URI_CHARS: usize = 1024;
const MAX_NAME_CHARS: usize = 200;
const MAX_MIME_CHARS: usize = 100;
pub const SCHEMES: [&str; 2] = ["workspace:", "platform-pending:"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Attachment {
    pub fn to_json(&self) -> Value {
        let mut v = json!({"uri": self.uri});
        if let Some(name) = &self.name {
            v["name"] = json!(name);
        }
        if let Some(mime) = &self.mime_type {
            v["mime_type"] = json!(mime);
        }
        if let Some(size) = self.size {
            v["size"] = json!(size);
        }
        v
    }

    /// `name (uri)`, or the URI alone, for one-line summaries.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.uri),
            None => self.uri.clone(),
        }
    }
}

/// The attachments of a row whose `request_body` is `body`.
pub fn of_row(fields: &Map<String, Value>, body: &Value) -> Vec<Attachment> {
    let from_row = fields.get("attachments").map(|a| list(a, false));
    if let Some(found) = from_row.filter(|f| !f.is_empty()) {
        return found;
    }
    let parts = [
        body.pointer("/params/message/parts"),
        body.pointer("/params/parts"),
        body.get("parts"),
    ];
    if let Some(found) = parts
        .into_iter()
        .flatten()
        .map(|p| list(p, true))
        .find(|f| !f.is_empty())
    {
        return found;
    }
    let manifests = [
        body.get("files"),
        body.get("attachments"),
        body.pointer("/params/files"),
        Some(body).filter(|b| b.is_array()),
    ];
    manifests
        .into_iter()
        .flatten()
        .map(|m| list(m, false))
        .find(|f| !f.is_empty())
        .unwrap_or_default()
}

/// The usable entries of a list; `parts` means A2A parts, whose kind must
/// say file, image or audio.
fn list(items: &Value, parts: bool) -> Vec<Attachment> {
    let Some(items) = items.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|item| !parts || is_file_part(item))
        .filter_map(entry)
        .take(MAX_ATTACHMENTS)
        .collect()
}

fn is_file_part(part: &Value) -> bool {
    ["kind", "type"].iter().any(|k| {
        matches!(
            part.get(*k).and_then(Value::as_str),
            Some("file" | "image" | "audio")
        )
    })
}

/// One attachment from an entry, a part's `file` object, or its fields.
fn entry(item: &Value) -> Option<Attachment> {
    let item = item.get("file").filter(|f| f.is_object()).unwrap_or(item);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| item.get(*k).and_then(Value::as_str))
    };
    let uri = text(&["uri", "url"]).filter(|u| is_usable_uri(u))?;
    Some(Attachment {
        uri: uri.to_string(),
        name: text(&["name", "filename"]).and_then(|n| clean(n, MAX_NAME_CHARS)),
        mime_type: text(&["mimeType", "mime_type", "mimetype"])
            .filter(|m| {
                m.chars().count() <= MAX_MIME_CHARS
                    && m.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
            })
            .map(str::to_string),
        size: item.get("size").and_then(Value::as_u64),
    })
}

fn is_usable_uri(uri: &str) -> bool {
    SCHEMES
        .iter()
        .any(|s| uri.starts_with(s) && uri.len() > s.len())
        && uri.chars().count() <= MAX_URI_CHARS
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A file name on one line: control and format characters dropped.
fn clean(text: &str, max: usize) -> Option<String> {
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control() && !is_format(*c))
        .take(max)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_string())
}

/// Invisible characters that can reorder or hide text (bidi controls,
/// zero-width characters).
fn is_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(row: Value) -> Vec<Attachment> {
        let fields = row.as_object().unwrap().clone();
        let body = fields.get("request_body").cloned().unwrap_or(Value::Null);
        of_row(&fields, &body)
    }

    #[test]
    fn the_row_field_wins_then_parts_then_the_manifest() {
        let parts = json!({"params": {"message": {"parts": [
            {"kind": "text", "text": "see"},
            {"kind": "file", "file": {"uri": "workspace:/a.png", "name": "a.png", "mimeType": "image/png"}},
        ]}}});
        let row = json!({"attachments": [{"uri": "platform-pending:up-1", "name": "r.txt", "size": 3}],
                         "request_body": parts});
        assert_eq!(
            of(row)[0],
            Attachment {
                uri: "platform-pending:up-1".into(),
                name: Some("r.txt".into()),
                mime_type: None,
                size: Some(3)
            }
        );
        let got = of(json!({"request_body": parts}));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].uri, "workspace:/a.png");
        assert_eq!(got[0].mime_type.as_deref(), Some("image/png"));
        let manifest = json!({"files": [{"uri": "workspace:/u/b.jpg", "name": "b.jpg", "mimeType": "image/jpeg", "size": 10}]});
        assert_eq!(
            of(json!({"request_body": manifest}))[0].name.as_deref(),
            Some("b.jpg")
        );
        let flat = json!({"type": "image", "uri": "workspace:/c.png"});
        assert_eq!(
            of(json!({"request_body": {"parts": [flat]}}))[0].uri,
            "workspace:/c.png"
        );
    }

    #[test]
    fn foreign_uris_and_junk_are_dropped() {
        let body = json!({"files": [
            {"uri": "file:///etc/passwd"},
            {"uri": "https://evil.example/x"},
            {"uri": "workspace:"},
            {"uri": "workspace:/a b"},
            {"uri": 7},
            "workspace:/bare-string",
            {"uri": "workspace:/ok", "name": "x\u{202e}gnp.exe\n", "mimeType": "text/plain; evil", "size": -1},
        ]});
        let got = of(json!({"request_body": body}));
        assert_eq!(
            got,
            vec![Attachment {
                uri: "workspace:/ok".into(),
                name: Some("xgnp.exe".into()),
                mime_type: None,
                size: None
            }]
        );
        let many: Vec<Value> = (0..100)
            .map(|i| json!({"uri": format!("workspace:/{i}")}))
            .collect();
        assert_eq!(of(json!({"attachments": many})).len(), MAX_ATTACHMENTS);
        assert!(of(json!({"request_body": "text"})).is_empty());
    }
}

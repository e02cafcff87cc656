//! Rows a test places in a workspace's inbox, shaped like the platform's.

use std::time::Duration;

use serde_json::{json, Value};

use super::state::{delegate_result_body, message_send_body};

/// A row to place in a workspace's inbox (its `a2a_receive` activity).
#[derive(Clone, Debug)]
pub struct InboxRow {
    pub(super) source_id: Option<String>,
    pub(super) method: String,
    pub(super) text: String,
    pub(super) summary: Option<String>,
    pub(super) request_body: Option<Value>,
    pub(super) age: Duration,
    pub(super) activity_type: String,
    pub(super) attachments: Option<Value>,
}

impl InboxRow {
    /// `source_id` `None` (or `Some("")`) is the canvas user.
    pub fn new(source_id: Option<&str>, method: &str, text: &str) -> InboxRow {
        InboxRow {
            source_id: source_id.map(str::to_string),
            method: method.to_string(),
            text: text.to_string(),
            summary: None,
            request_body: None,
            age: Duration::ZERO,
            activity_type: "a2a_receive".into(),
            attachments: None,
        }
    }

    /// Files uploaded in the canvas: a `chat_upload_receive` row whose
    /// body is the upload manifest `{"files": [...]}`.
    pub fn upload(files: Value) -> InboxRow {
        let mut row = InboxRow::new(None, "chat_upload", "");
        row.activity_type = "chat_upload_receive".into();
        row.summary = Some(String::new());
        row.request_body = Some(json!({"files": files}));
        row
    }

    /// Files the row under another activity type (an `a2a_send`, a
    /// report...), which is not a message.
    pub fn activity_type(mut self, activity_type: &str) -> InboxRow {
        self.activity_type = activity_type.to_string();
        self
    }

    /// Sets the row's own `attachments` field.
    pub fn attachments(mut self, list: Value) -> InboxRow {
        self.attachments = Some(list);
        self
    }

    /// A message typed by a person in the canvas.
    pub fn canvas(text: &str) -> InboxRow {
        InboxRow::new(None, "message/send", text)
    }

    /// A message from another workspace's agent.
    pub fn peer(peer_id: &str, text: &str) -> InboxRow {
        InboxRow::new(Some(peer_id), "message/send", text)
    }

    /// Backdates the row: its `created_at` is this long before now.
    pub fn age(mut self, age: Duration) -> InboxRow {
        self.age = age;
        self
    }

    /// Overrides the summary (by default the text).
    pub fn summary(mut self, summary: &str) -> InboxRow {
        self.summary = Some(summary.to_string());
        self
    }

    /// Replaces the generated `request_body`, e.g. to put the parts
    /// elsewhere or leave them out.
    pub fn request_body(mut self, body: Value) -> InboxRow {
        self.request_body = Some(body);
        self
    }
}

/// The `request_body` the platform stores for a row of this method.
pub(super) fn default_body(method: &str, id: &str, text: &str) -> Value {
    match method {
        "notify" => json!({"message": text}),
        "delegate_result" => delegate_result_body(None, None, text),
        _ => message_send_body(id, text),
    }
}

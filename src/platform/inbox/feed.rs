//! One read of a workspace's inbox feed:
//! `GET /workspaces/{id}/activity?since_id=<cursor>&include=peer_info`, or
//! `since_secs=600` without a cursor.
//!
//! No `type` filter: messages are `a2a_receive` and `chat_upload_receive`
//! rows, and a filter for two types is not something every server
//! understands. The row parser keeps those two types and the cursor passes
//! every other row.

use serde_json::Value;

use crate::config::{Secret, Workspace};
use crate::platform::http::{self, Call, Client, HttpError};

/// How far back a poll without a cursor reads.
pub const BACKLOG_SECS: &str = "600";
/// The platform answers at most this many rows at once.
pub const PAGE_ROWS: usize = 100;

#[derive(Debug, PartialEq)]
pub enum Feed {
    /// Rows, oldest first.
    Rows(Vec<Value>),
    /// 410: the cursor row is gone.
    Gone,
    /// Anything else. `kind` is stable across repeats of the same failure
    /// (for log de-duplication); `detail` is for the log line.
    Failed { kind: String, detail: String },
}

pub fn read(client: &Client, ws: &Workspace, token: &Secret, cursor: Option<&str>) -> Feed {
    let base = http::url(&ws.platform_url, &["workspaces", &ws.id, "activity"]);
    let url = match cursor {
        Some(id) => http::with_query(base, &[("since_id", id), ("include", "peer_info")]),
        None => http::with_query(
            base,
            &[("since_secs", BACKLOG_SECS), ("include", "peer_info")],
        ),
    };
    let call = Call::new("GET", url, &ws.platform_url).token(token);
    let response = match client.send(call) {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    if response.status == 410 {
        return Feed::Gone;
    }
    if !response.is_success() {
        let hint = match response.status {
            401 | 403 => " (the workspace token was refused)",
            404 => " (is the workspace registered, and PLATFORM_URL right?)",
            _ => "",
        };
        return Feed::Failed {
            kind: format!("HTTP {}", response.status),
            detail: format!("HTTP {}{hint}: {}", response.status, response.snippet()),
        };
    }
    match response.json() {
        Ok(Value::Array(mut rows)) => {
            // Without a cursor the platform answers newest first.
            if cursor.is_none() {
                rows.reverse();
            }
            Feed::Rows(rows)
        }
        Ok(_) => Feed::Failed {
            kind: "not a list".into(),
            detail: format!(
                "the answer is JSON but not a list of rows: {}",
                response.snippet()
            ),
        },
        Err(e) => failed(&e),
    }
}

fn failed(e: &HttpError) -> Feed {
    let kind = match e {
        HttpError::Transport { .. } => "unreachable",
        HttpError::TooLarge => "too large",
        HttpError::BadJson { .. } => "not JSON",
    };
    Feed::Failed {
        kind: kind.into(),
        detail: e.to_string(),
    }
}

//! Scripted replies: what a test wants the next matching requests to see
//! instead of (or before) the simulator's normal behaviour.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

use super::http::Answer;
use super::wire::json_answer;

#[derive(Clone, Debug)]
pub enum Reply {
    /// This status with a plain-text body.
    Status(u16, String),
    /// This status with a JSON body.
    Json(u16, Value),
    /// Exactly these headers and bytes (HTML with 200, a JSON array, 5 MiB,
    /// a lying `Content-Length`...). `Content-Length` is added unless given.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Holds the request open this long, then drops the connection.
    Hang(Duration),
    /// Drops the connection without answering.
    Close,
    /// Waits this long, then behaves normally.
    Delay(Duration),
}

impl Reply {
    pub fn status(code: u16, body: &str) -> Reply {
        Reply::Status(code, body.to_string())
    }

    pub fn json(code: u16, body: Value) -> Reply {
        Reply::Json(code, body)
    }

    /// A body with one `Content-Type`.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Raw {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Answers that need no waiting; `Hang` and `Delay` are the caller's.
    pub(super) fn into_answer(self) -> Answer {
        match self {
            Reply::Status(status, text) => Answer::Respond {
                status,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: text.into_bytes(),
            },
            Reply::Json(status, v) => json_answer(status, &v),
            Reply::Raw {
                status,
                headers,
                body,
            } => Answer::Respond {
                status,
                headers,
                body,
            },
            Reply::Hang(_) | Reply::Close | Reply::Delay(_) => Answer::Close,
        }
    }
}

struct Script {
    method: String,
    path: String,
    replies: VecDeque<Reply>,
    sticky: bool,
}

#[derive(Default)]
pub struct Scripts {
    list: Vec<Script>,
}

impl Scripts {
    pub fn push(&mut self, method: &str, path: &str, replies: Vec<Reply>, sticky: bool) {
        self.list.push(Script {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            replies: replies.into(),
            sticky,
        });
    }

    /// The reply for this request, if a script covers it: queued one-shot
    /// replies first, in the order they were scripted, then sticky ones.
    pub fn next(&mut self, method: &str, path: &str) -> Option<Reply> {
        let matches = |s: &Script| {
            (s.method == "*" || s.method.eq_ignore_ascii_case(method))
                && path_matches(&s.path, path)
        };
        if let Some(s) = self
            .list
            .iter_mut()
            .find(|s| !s.sticky && !s.replies.is_empty() && matches(s))
        {
            return s.replies.pop_front();
        }
        self.list.retain(|s| s.sticky || !s.replies.is_empty());
        // The latest sticky script wins, so a test can override an earlier one.
        self.list
            .iter()
            .rev()
            .find(|s| s.sticky && matches(s))
            .and_then(|s| s.replies.front().cloned())
    }
}

/// `pattern` is an exact path, or a prefix when it ends in `*`.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

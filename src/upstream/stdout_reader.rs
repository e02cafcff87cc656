//! The thread that reads a stdio server's stdout: answers go to their
//! waiting callers by id, notifications to the event queue, the server's own
//! requests get an answer. Whatever else the server prints (banners, debug
//! output, invalid UTF-8, giant lines) is logged, rate-limited, and skipped.

use std::io::{BufReader, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use serde_json::Value;

use super::error::CallError;
use super::jsonrpc_client::{answer_or_relay, classify, Incoming};
use super::oversized::{self, Parsed};
use super::rate_limit::{left_out, RateLimit};
use super::stdin_writer::MAX_QUEUED_ANSWERS;
use super::stdio::ChildLink;
use crate::lines::{Line, LineReader, MAX_LINE};

struct Reader {
    link: Arc<ChildLink>,
    /// Our answers to the server's requests, to the stdin writer.
    answers: Sender<String>,
    garbage: RateLimit,
    strays: RateLimit,
}

/// Reads until stdout closes, then ends the link: every waiting request
/// fails and `closed()` becomes ready.
pub fn run(stdout: impl Read, link: Arc<ChildLink>, answers: Sender<String>) {
    let mut lines = LineReader::new(BufReader::with_capacity(64 * 1024, stdout), MAX_LINE);
    let mut reader = Reader {
        link,
        answers,
        garbage: RateLimit::new(),
        strays: RateLimit::new(),
    };
    let why = loop {
        match lines.next_line() {
            Ok(None) => break "the server closed its stdout".to_string(),
            Err(e) => break format!("reading the server's stdout failed: {}", e.kind()),
            Ok(Some(Line::TooLong { length })) => {
                let (head, tail) = lines.overlong_ends();
                let id = oversized::id_from_head(head).or_else(|| oversized::id_from_tail(tail));
                let why = format!(
                    "was {} MiB, over the {} MiB limit",
                    length.div_ceil(1024 * 1024),
                    MAX_LINE / (1024 * 1024)
                );
                reader.uncarriable(id, &why, &format!("a line of {length} bytes"));
            }
            Ok(Some(Line::Complete(bytes))) => reader.line(&bytes),
        }
    };
    log::debug!("{}: {why}", reader.link.name);
    reader.link.end(CallError::transport(why, true));
}

impl Reader {
    fn line(&mut self, bytes: &[u8]) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match oversized::parse(bytes) {
            Parsed::Json(Value::Array(batch)) => {
                for message in batch {
                    self.message(message);
                }
            }
            Parsed::Json(message) => self.message(message),
            Parsed::TooDeep { depth } => {
                let head = &bytes[..bytes.len().min(4096)];
                let tail = &bytes[bytes.len().saturating_sub(256)..];
                let id = oversized::id_from_head(head).or_else(|| oversized::id_from_tail(tail));
                let why = oversized::too_deep(depth);
                self.uncarriable(id, &why, &format!("a message nested {depth} levels deep"));
            }
            Parsed::NotJson if std::str::from_utf8(bytes).is_err() => {
                self.garbage("skipped a line that is not UTF-8");
            }
            Parsed::NotJson => {
                self.garbage("skipped a line that is not JSON (servers must log to stderr)")
            }
        }
    }

    /// An answer that cannot be carried: its call (when we can tell which)
    /// fails now with `why`, rather than waiting out its timeout.
    fn uncarriable(&mut self, id: Option<u64>, why: &str, what: &str) {
        let failed = id.is_some_and(|id| {
            let error = oversized::failure(&self.link.name, why);
            self.link.pending.complete(id, Err(error))
        });
        if failed {
            log::warn!(
                "{}: the answer to request {} {why}; that call failed",
                self.link.name,
                id.unwrap_or_default()
            );
        } else {
            self.garbage(&format!("skipped {what}: it {why}"));
        }
    }

    fn message(&mut self, message: Value) {
        match classify(message) {
            Incoming::Response {
                id: Some(id),
                outcome,
            } => {
                let outcome = outcome.map_err(|error| CallError::from_rpc_error(&error));
                if !self.link.pending.complete(id, outcome) {
                    self.stray(id);
                }
            }
            Incoming::Response { id: None, .. } => {
                self.garbage("skipped an answer whose id we never issued");
            }
            Incoming::Request { id, method, params } => {
                if self.link.answers_queued.load(Ordering::SeqCst) >= MAX_QUEUED_ANSWERS {
                    self.garbage(
                        "skipped a request: the server asks faster than it reads our answers",
                    );
                    return;
                }
                // Counted from now: a relayed request waits for the agent,
                // and at most MAX_QUEUED_ANSWERS of them wait at once.
                self.link.answers_queued.fetch_add(1, Ordering::SeqCst);
                let (answers, link) = (self.answers.clone(), self.link.clone());
                let deliver = move |answer: Value| {
                    // Never full: it holds as many answers as may be counted.
                    if answers.try_send(answer.to_string()).is_err() {
                        link.answers_queued.fetch_sub(1, Ordering::SeqCst);
                    }
                };
                let ended = self.link.ended.clone();
                if !answer_or_relay(&self.link.name, id, method, params, ended, deliver) {
                    self.link.answers_queued.fetch_sub(1, Ordering::SeqCst);
                    self.garbage("skipped a request: no thread to relay it");
                }
            }
            Incoming::Notification(notification) => self.link.events.push(notification),
            Incoming::Invalid(why) => self.garbage(&format!("skipped a message: {why}")),
        }
    }

    /// An answer for a request nobody waits for: it timed out or was
    /// cancelled, which is normal, hence debug.
    fn stray(&mut self, id: u64) {
        if let Some(skipped) = self.strays.allow(Instant::now()) {
            log::debug!(
                "{}: late answer to request {id} dropped{}",
                self.link.name,
                left_out(skipped)
            );
        }
    }

    fn garbage(&mut self, what: &str) {
        if let Some(skipped) = self.garbage.allow(Instant::now()) {
            log::warn!("{}: {what}{}", self.link.name, left_out(skipped));
        }
    }
}

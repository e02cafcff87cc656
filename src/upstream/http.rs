//! The Streamable HTTP transport: each request is its own POST, answered by
//! a JSON body or an event stream (see `http_exchange`).
//!
//! ureq cannot be interrupted, so each exchange runs on a helper thread and
//! the caller waits for its answer, its cancellation or its timeout,
//! whichever comes first. An abandoned helper ends by itself: its own
//! timeout is the call's, plus a moment.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};
use serde_json::Value;

use super::error::CallError;
use super::http_exchange::{Endpoint, Post};
use super::jsonrpc_client;
use super::session::Session;
use crate::threads::{Budget, Pending, Refused};

use crate::sync::lock;

/// The helper's own timeout exceeds the caller's by this much, so that the
/// caller, which tells the server, is the one that times out.
const HELPER_MARGIN: Duration = Duration::from_millis(500);
/// How long `close()` waits for the server to end the session.
const DELETE_TIMEOUT: Duration = Duration::from_millis(1500);

pub struct HttpSession {
    endpoint: Arc<Endpoint>,
    next_id: AtomicU64,
    events: Receiver<Value>,
    closed_tx: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
    info: OnceLock<Value>,
    /// Also read by the GET stream's reader, which ends once it is set.
    closing: Arc<AtomicBool>,
    /// The server's budget of helper threads: request threads count in it
    /// until they end, including those of calls given up on (cancelled or
    /// timed out), which run on to their own deadline.
    helpers: Arc<Budget>,
}

impl HttpSession {
    /// Checks the URL and headers (already `${VAR}`-expanded); connects
    /// nothing yet.
    pub fn new(
        name: &str,
        url: &str,
        headers: &BTreeMap<String, String>,
    ) -> Result<HttpSession, CallError> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let endpoint = Arc::new(Endpoint::new(name, url, &headers)?);
        let (closed_tx, closed) = bounded(0);
        Ok(HttpSession {
            events: endpoint.events.receiver(),
            endpoint,
            next_id: AtomicU64::new(1),
            closed_tx: Mutex::new(Some(closed_tx)),
            closed,
            info: OnceLock::new(),
            closing: Arc::new(AtomicBool::new(false)),
            helpers: crate::threads::upstream(name),
        })
    }

    /// Records what `initialize` answered.
    pub fn set_info(&self, info: Value) {
        let _ = self.info.set(info);
    }

    /// Tells the server we stopped waiting; never waits itself.
    fn cancel_upstream(&self, id: u64, method: &str, reason: &str) {
        // The spec forbids cancelling `initialize`.
        if method != "initialize" && !self.closing.load(Ordering::SeqCst) {
            self.endpoint
                .post_in_background(jsonrpc_client::cancelled(id, reason));
        }
    }
}

impl Session for HttpSession {
    fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancel: &Receiver<()>,
    ) -> Result<Value, CallError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(CallError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = jsonrpc_client::request(id, method, params).to_string();
        let post = Post::Request {
            id,
            initialize: method == "initialize",
        };
        let endpoint = self.endpoint.clone();
        let pending = Pending::start(
            format!("http-{}", self.endpoint.name),
            &self.helpers,
            move || endpoint.post(&body, post, timeout.saturating_add(HELPER_MARGIN)),
        );
        let pending = match pending {
            Ok(pending) => pending,
            Err(Refused::NoThread(_)) => {
                return Err(CallError::transport(
                    "no thread could be started for the request",
                    false,
                ))
            }
            Err(Refused::GroupFull { places }) => {
                return Err(CallError::Busy {
                    detail: format!("{places} requests to this server are still running"),
                })
            }
            Err(Refused::AllFull { places }) => {
                return Err(CallError::Busy {
                    detail: format!("{places} requests to our servers are still running"),
                })
            }
        };
        select! {
            recv(pending.answer()) -> got => match got {
                Ok(outcome) => outcome.and_then(|result| {
                    result.ok_or_else(|| CallError::protocol("the server sent no answer"))
                }),
                Err(_) => Err(CallError::transport("the request was lost", true)),
            },
            recv(cancel) -> _ => {
                self.cancel_upstream(id, method, "cancelled by the client");
                Err(CallError::Cancelled)
            },
            // Closed by us meanwhile: nobody wants this answer any more.
            recv(self.closed) -> _ => Err(CallError::Closed),
            default(timeout) => {
                self.cancel_upstream(id, method, "timeout");
                Err(CallError::Timeout)
            },
        }
    }

    fn notify(&self, method: &str, params: Value) -> Result<(), CallError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(CallError::Closed);
        }
        let body = jsonrpc_client::notification(method, params).to_string();
        self.endpoint
            .post(&body, Post::OneWay, super::http_exchange::SIDE_TIMEOUT)
            .map(|_| ())
    }

    fn events(&self) -> Receiver<Value> {
        self.events.clone()
    }

    fn closed(&self) -> Receiver<()> {
        self.closed.clone()
    }

    fn info(&self) -> &Value {
        self.info.get().unwrap_or(&Value::Null)
    }

    fn close(&self) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        lock(&self.closed_tx).take();
        self.endpoint.delete_session(DELETE_TIMEOUT);
    }

    fn stderr_tail(&self) -> Vec<String> {
        Vec::new()
    }

    /// The GET stream, for what the server sends on its own (requests,
    /// notifications); it ends once the session closes, or at once when the
    /// server offers none (405).
    fn listener(&self) -> Option<Box<dyn FnOnce() + Send>> {
        self.info.get()?;
        let endpoint = self.endpoint.clone();
        let closing = self.closing.clone();
        let closed = self.closed.clone();
        Some(Box::new(move || endpoint.listen(&closing, &closed)))
    }
}

//! One HTTP exchange with a Streamable HTTP server: the POST (or DELETE),
//! redirects, and reading the answer, a JSON body or an event stream, into
//! a typed outcome.
//!
//! Decisions beyond gateway.md §2:
//! - Redirects are followed by hand, only 307/308 (which keep the method
//!   and body), at most 5. The configured headers and the session id go
//!   only to the configured origin; another origin gets the request without
//!   them. 301/302/303 are refused (they would turn the POST into a GET).
//! - A server's request that arrives inside an event stream is answered by
//!   a separate POST (`ping` → `{}`, else -32601).
//! - A stream that ends before our answer, after the server gave an event
//!   id, is resumed (SEP-1699): after the `retry` delay the server asked
//!   for (1 s when none), a GET with `Last-Event-ID` goes on reading, up to
//!   5 times within the call's timeout. Without an id, or when the GET is
//!   refused, the end is a lost connection after sending (outcome
//!   uncertain). These decisions, and each request's share of the call's
//!   timeout, are the machine in `machine::resumption`
//!   (spec/resumption.table).
//! - The GET stream for server-initiated messages is opened once the
//!   session is initialized ([`Endpoint::listen`]); 405 means the server
//!   offers none. It is reopened (with `Last-Event-ID` when the server gave
//!   ids) when it ends, until the session closes or it fails 5 times in a
//!   row.

use std::io::BufReader;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use serde_json::Value;
use ureq::http::{HeaderName, HeaderValue, Request, Response};
use ureq::Body;

use super::error::CallError;
use super::event_queue::EventQueue;
use super::http_agents::MAX_HEAD_LINE;
use super::http_failure::{
    not_mcp, rpc_error, short, status_error, too_large, transport_error, unbuildable,
};
use super::jsonrpc_client::{answer_or_relay, classify, Incoming};
use super::origin::{resolve, Origin};
use super::oversized::{self, Parsed};
use super::rate_limit::{left_out, RateLimit};
use super::sse;
use crate::lines::{Line, LineReader, MAX_LINE};
use crate::machine::resumption::{self, Effect, Event, Failure, Phase, Resumption, DEFAULT_RETRY};

/// Answers larger than this are refused.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;
/// How much of an error answer is read to classify and quote it.
const MAX_ERROR_BODY: u64 = 64 * 1024;
const MAX_REDIRECTS: usize = 5;
/// Side messages (our answers to the server's requests, cancellations).
pub const SIDE_TIMEOUT: Duration = Duration::from_secs(5);
/// One GET stream is reopened after this long even if the server keeps it
/// open: it bounds how long the listening thread outlives its session.
const GET_STREAM_SPAN: Duration = Duration::from_secs(300);
/// Consecutive GET failures after which the stream is given up.
const MAX_GET_FAILURES: usize = 5;
/// No request of ours has this id: GET streams carry no answer we await.
const NO_REQUEST: u64 = u64::MAX;
/// The bounds of the delay a server may ask for (`retry:`) before its GET
/// stream is reopened. Below: `retry: 0` on a stream that keeps ending would
/// reconnect in a tight loop. Above: what the server sends on its own
/// (requests, notifications) would go unheard for longer than a client
/// should accept, and an absurd delay must not park the thread.
const MIN_LISTEN_RETRY: Duration = Duration::from_millis(100);
const MAX_LISTEN_RETRY: Duration = Duration::from_secs(30);

/// A server we post to, shared by the calls in flight.
pub struct Endpoint {
    pub name: String,
    url: String,
    origin: Origin,
    /// Configured headers, already expanded. Their values are never logged.
    headers: Vec<(HeaderName, HeaderValue)>,
    agent: ureq::Agent,
    session_id: Mutex<Option<HeaderValue>>,
    protocol_version: OnceLock<HeaderValue>,
    pub events: EventQueue,
    garbage: Mutex<RateLimit>,
}

/// What a POST is for.
pub enum Post {
    /// A request with our id: its answer is awaited.
    Request { id: u64, initialize: bool },
    /// A notification or our answer to the server: 202 expected, body ignored.
    OneWay,
}

impl Endpoint {
    pub fn new(name: &str, url: &str, headers: &[(String, String)]) -> Result<Endpoint, CallError> {
        // The URL is not quoted: its query may hold a key.
        let origin = Origin::of(url)
            .ok_or_else(|| CallError::protocol("the url is not a valid http:// or https:// URL"))?;
        let mut checked = Vec::with_capacity(headers.len());
        for (key, value) in headers {
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                CallError::protocol(format!("header name {:?} is not valid", short(key)))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                CallError::protocol(format!(
                    "the value of header {name} is not a valid header value (a line break, or a variable expanded to one?)"
                ))
            })?;
            // Checked here: ureq would report an overlong line as invalid
            // HTTP from the server. The value is a secret: only its size.
            let line = name.as_str().len() + 2 + value.len();
            if line > MAX_HEAD_LINE {
                return Err(CallError::protocol(format!(
                    "header {name} is too long: its line (name: value) is {line} bytes, at most {MAX_HEAD_LINE} are sent"
                )));
            }
            checked.push((name, value));
        }
        let line = request_line_len(url);
        if line > MAX_HEAD_LINE {
            return Err(CallError::protocol(format!(
                "the url's path and query are too long: the request line would be {line} bytes, at most {MAX_HEAD_LINE} are sent"
            )));
        }
        Ok(Endpoint {
            name: name.to_string(),
            url: url.to_string(),
            origin,
            headers: checked,
            agent: super::http_agents::for_requests(),
            session_id: Mutex::new(None),
            protocol_version: OnceLock::new(),
            events: EventQueue::new(name),
            garbage: Mutex::new(RateLimit::new()),
        })
    }

    /// From `initialize` on, every request names the protocol revision.
    pub fn set_protocol_version(&self, version: &str) {
        if let Ok(value) = HeaderValue::from_str(version) {
            let _ = self.protocol_version.set(value);
        }
    }

    pub fn has_session(&self) -> bool {
        crate::sync::lock(&self.session_id).is_some()
    }

    fn session_header(&self) -> Option<HeaderValue> {
        crate::sync::lock(&self.session_id).clone()
    }

    /// Posts one message; `Some(result)` for a request, `None` for a
    /// one-way message.
    pub fn post(
        self: &Arc<Self>,
        body: &str,
        post: Post,
        timeout: Duration,
    ) -> Result<Option<Value>, CallError> {
        let mut call = Resumption::new(resumption::Config::default(), Instant::now(), timeout);
        let (mut response, sent_session) = self.send("POST", Some(body), None, &mut call)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            // The body only explains; failing to read it changes nothing.
            let body = read_body(&mut response, MAX_ERROR_BODY).unwrap_or_default();
            return Err(status_error(status, &body, sent_session));
        }
        let Post::Request { id, initialize } = post else {
            return Ok(None);
        };
        if initialize {
            self.capture_session(&response)?;
        }
        if status == 202 {
            return Err(CallError::protocol(
                "the server accepted the request without answering it (202); answers on a separate GET stream are not supported",
            ));
        }
        let content_type = header_text(&response, "content-type").to_ascii_lowercase();
        let result = if content_type.starts_with("text/event-stream") {
            self.read_stream(response.into_body(), id, &mut call)?
        } else {
            let bytes = read_body(&mut response, MAX_BODY)?;
            match oversized::parse(&bytes) {
                Parsed::Json(message) => self.answer_in_body(message, id)?,
                Parsed::TooDeep { depth } => {
                    return Err(oversized::uncarriable(&oversized::too_deep(depth)))
                }
                Parsed::NotJson => return Err(not_mcp(status, &content_type)),
            }
        };
        if initialize {
            // Before `notifications/initialized`, which must carry it.
            if let Some(version) = result.get("protocolVersion").and_then(Value::as_str) {
                self.set_protocol_version(version);
            }
        }
        Ok(Some(result))
    }

    /// Ends the server's session; errors are only logged, the session is
    /// gone from our side either way.
    pub fn delete_session(&self, timeout: Duration) {
        if !self.has_session() {
            return;
        }
        let mut call = Resumption::new(resumption::Config::default(), Instant::now(), timeout);
        match self.send("DELETE", None, None, &mut call) {
            Ok((response, _)) => log::debug!(
                "{}: session ended (HTTP {})",
                self.name,
                response.status().as_u16()
            ),
            Err(e) => log::debug!("{}: ending the session failed: {e}", self.name),
        }
    }

    /// Posts a one-way message from a thread of its own: our callers never
    /// wait for side messages. The thread holds a place of this server's
    /// budget (src/threads.rs), so a server that keeps asking cannot make us
    /// start threads without end: with no place left the message is dropped.
    pub fn post_in_background(self: &Arc<Self>, message: Value) {
        let endpoint = self.clone();
        let group = crate::threads::upstream(&self.name);
        let spawned =
            crate::threads::spawn(format!("http-side-{}", self.name), &group, move || {
                if let Err(e) = endpoint.post(&message.to_string(), Post::OneWay, SIDE_TIMEOUT) {
                    log::debug!("{}: a side message failed: {e}", endpoint.name);
                }
            });
        if let Err(e) = spawned {
            self.garbage(&format!("dropped a side message: {e}"));
        }
    }

    /// Sends, following same-method redirects by hand, each request with
    /// the timeout `call` gives it. Returns the final answer and whether it
    /// was sent with our session id.
    fn send(
        &self,
        method: &str,
        body: Option<&str>,
        last_event_id: Option<&str>,
        call: &mut Resumption,
    ) -> Result<(Response<Body>, bool), CallError> {
        let mut url = self.url.clone();
        let mut warned = false;
        for _ in 0..=MAX_REDIRECTS {
            let trusted = Origin::of(&url).as_ref() == Some(&self.origin);
            let mut builder = Request::builder()
                .method(method)
                .uri(url.as_str())
                .header("Accept", "application/json, text/event-stream");
            let mut sent_session = false;
            if trusted {
                for (name, value) in &self.headers {
                    builder = builder.header(name, value);
                }
                if let Some(session) = self.session_header() {
                    builder = builder.header("Mcp-Session-Id", session);
                    sent_session = true;
                }
            }
            if let Some(version) = self.protocol_version.get() {
                builder = builder.header("MCP-Protocol-Version", version);
            }
            if let Some(id) = last_event_id {
                builder = builder.header("Last-Event-ID", id);
            }
            let remaining = match call.handle(Event::Send, Instant::now()) {
                Some(Effect::Send { timeout }) => timeout,
                Some(Effect::Fail(failure)) => return Err(stream_failure(failure)),
                // The call is already over: nothing more goes out for it.
                _ => return Err(over(call)),
            };
            let response = match body {
                Some(body) => {
                    let request = builder
                        .header("Content-Type", "application/json")
                        .body(body.as_bytes())
                        .map_err(|_| unbuildable())?;
                    self.run(request, remaining)
                }
                None => self.run(builder.body(()).map_err(|_| unbuildable())?, remaining),
            }
            .map_err(transport_error)?;
            let status = response.status().as_u16();
            if status != 307 && status != 308 {
                return Ok((response, sent_session));
            }
            let location = header_text(&response, "location");
            let Some(next) = resolve(&url, &location) else {
                return Err(CallError::Http {
                    status,
                    detail: "redirected to a location that is not an http(s) URL".into(),
                });
            };
            if Origin::of(&next).as_ref() != Some(&self.origin) && !warned {
                log::warn!(
                    "{}: the server redirects to another origin; its configured headers and session are not sent there",
                    self.name
                );
                warned = true;
            }
            url = next;
        }
        Err(CallError::Http {
            status: 308,
            detail: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    fn run<S: ureq::AsSendBody>(
        &self,
        request: Request<S>,
        timeout: Duration,
    ) -> Result<Response<Body>, ureq::Error> {
        // GET streams go through the shared agent for streams.
        let agent = if request.method() == ureq::http::Method::GET {
            super::http_agents::for_streams()
        } else {
            &self.agent
        };
        let request = agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        agent.run(request)
    }

    fn capture_session(&self, response: &Response<Body>) -> Result<(), CallError> {
        let Some(value) = response.headers().get("mcp-session-id") else {
            return Ok(());
        };
        // The spec allows visible ASCII only; anything else could not be
        // sent back.
        let usable =
            !value.is_empty() && value.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b));
        if !usable {
            return Err(CallError::protocol(
                "the server gave a session id that cannot be sent back",
            ));
        }
        *crate::sync::lock(&self.session_id) = Some(value.clone());
        Ok(())
    }

    /// A JSON body: our answer, possibly inside a batch.
    fn answer_in_body(self: &Arc<Self>, message: Value, id: u64) -> Result<Value, CallError> {
        let messages = match message {
            Value::Array(batch) => batch,
            single => vec![single],
        };
        let mut answer = None;
        for message in messages {
            match classify(message) {
                Incoming::Response {
                    id: Some(got),
                    outcome,
                } if got == id && answer.is_none() => {
                    answer = Some(outcome);
                }
                Incoming::Response { .. } => self.garbage("skipped an answer to another request"),
                Incoming::Request { id, method, params } => self.server_request(id, method, params),
                Incoming::Notification(notification) => self.events.push(notification),
                Incoming::Invalid(_) => {
                    return Err(CallError::protocol(
                        "not an MCP endpoint: the answer is JSON but not JSON-RPC",
                    ))
                }
            }
        }
        match answer {
            Some(outcome) => outcome.map_err(|error| rpc_error(&error)),
            None => Err(CallError::protocol(
                "the server's answer is not for our request",
            )),
        }
    }

    /// Reads the session's GET stream until `closing` is set (`closed`
    /// disconnects at the same moment, ending any wait at once): the
    /// server's requests and notifications, as on a POST's stream. Blocks:
    /// run by the thread that connected the session, which keeps its place
    /// in the server's thread budget meanwhile.
    pub fn listen(self: &Arc<Self>, closing: &AtomicBool, closed: &Receiver<()>) {
        let mut parser = sse::Parser::new(MAX_LINE);
        let mut failures = 0;
        while !closing.load(Ordering::SeqCst) && failures < MAX_GET_FAILURES {
            let last_id = parser.last_id().map(String::from);
            let mut span = Resumption::new(
                resumption::Config::default(),
                Instant::now(),
                GET_STREAM_SPAN,
            );
            let opened = self.send("GET", None, last_id.as_deref(), &mut span);
            let mut response = match opened {
                Ok((response, _)) => response,
                Err(e) => {
                    log::debug!("{}: the GET stream failed: {e}", self.name);
                    failures += 1;
                    wait_unless_closed(closed, DEFAULT_RETRY);
                    continue;
                }
            };
            let status = response.status().as_u16();
            let content_type = header_text(&response, "content-type").to_ascii_lowercase();
            if status == 405 {
                log::debug!("{}: the server offers no GET stream", self.name);
                return;
            }
            if status != 200 || !content_type.starts_with("text/event-stream") {
                let _ = read_body(&mut response, MAX_ERROR_BODY);
                log::debug!("{}: the GET stream was refused (HTTP {status})", self.name);
                failures += 1;
                wait_unless_closed(closed, DEFAULT_RETRY);
                continue;
            }
            parser = parser.resumed();
            let read =
                self.read_events(response.into_body(), &mut parser, NO_REQUEST, Some(closing));
            if let Some(Err(e)) = read {
                log::debug!("{}: the GET stream broke: {e}", self.name);
                failures += 1;
            } else if parser.dispatched() == 0 {
                // Opened and ended with nothing: reconnecting at once would
                // make a loop of a server that does only that.
                failures += 1;
            } else {
                failures = 0;
            }
            wait_unless_closed(closed, listen_retry(parser.retry()));
        }
    }

    /// An event stream: notifications until the event that answers us,
    /// resuming the stream when it ends early.
    fn read_stream(
        self: &Arc<Self>,
        body: Body,
        id: u64,
        call: &mut Resumption,
    ) -> Result<Value, CallError> {
        let mut parser = sse::Parser::new(MAX_LINE);
        let mut body = body;
        loop {
            if let Some(answer) = self.read_events(body, &mut parser, id, None) {
                call.handle(Event::Answered, Instant::now());
                return answer;
            }
            let ended = Event::Ended {
                last_id: parser.last_id().is_some(),
                retry: parser.retry().map(Duration::from_millis),
            };
            let mut effect = call.handle(ended, Instant::now());
            while let (None, Some(until)) = (effect, call.next_deadline()) {
                thread::sleep(until.saturating_duration_since(Instant::now()));
                effect = call.handle(Event::Tick, Instant::now());
            }
            match effect {
                Some(Effect::Resume) => {}
                Some(Effect::Fail(failure)) => return Err(stream_failure(failure)),
                _ => return Err(stream_failure(Failure::Lost)),
            }
            let last_id = parser.last_id().unwrap_or_default().to_string();
            log::debug!(
                "{}: resuming an event stream after event {last_id:.80}",
                self.name
            );
            let (mut response, _) = self.send("GET", None, Some(&last_id), call)?;
            let status = response.status().as_u16();
            let content_type = header_text(&response, "content-type").to_ascii_lowercase();
            if status != 200 || !content_type.starts_with("text/event-stream") {
                let _ = read_body(&mut response, MAX_ERROR_BODY);
                log::debug!(
                    "{}: the stream could not be resumed (HTTP {status})",
                    self.name
                );
                return Err(match call.handle(Event::Refused, Instant::now()) {
                    Some(Effect::Fail(failure)) => stream_failure(failure),
                    _ => stream_failure(Failure::Lost),
                });
            }
            parser = parser.resumed();
            body = response.into_body();
        }
    }

    /// Reads one stream to its end: `Some` with our answer, `None` when it
    /// ended without it.
    fn read_events(
        self: &Arc<Self>,
        body: Body,
        parser: &mut sse::Parser,
        id: u64,
        closing: Option<&AtomicBool>,
    ) -> Option<Result<Value, CallError>> {
        let reader = body.into_with_config().limit(u64::MAX).reader();
        // ureq buffers the connection already: a small window suffices.
        let mut lines = LineReader::new(BufReader::with_capacity(1024, reader), MAX_LINE);
        loop {
            // Once the session closes, nothing more of its stream is relayed
            // and the reader ends at the next line.
            if closing.is_some_and(|closing| closing.load(Ordering::SeqCst)) {
                return None;
            }
            let line = match lines.next_line() {
                Ok(Some(Line::Complete(bytes))) => bytes,
                Ok(Some(Line::TooLong { .. })) => return Some(Err(too_large())),
                Ok(None) => break,
                // A broken stream can be resumed like an ended one.
                Err(_) if parser.last_id().is_some() => return None,
                Err(e) => return Some(Err(transport_error(ureq::Error::from(e)))),
            };
            let event = match parser.line(&String::from_utf8_lossy(&line)) {
                Ok(event) => event,
                Err(sse::TooLarge) => return Some(Err(too_large())),
            };
            if let Some(answer) = event.and_then(|event| self.stream_event(&event, id)) {
                return Some(answer);
            }
        }
        parser
            .finish()
            .and_then(|event| self.stream_event(&event, id))
    }

    /// `Some` when `event` holds our answer.
    fn stream_event(
        self: &Arc<Self>,
        event: &sse::Event,
        id: u64,
    ) -> Option<Result<Value, CallError>> {
        if !event.is_message() || event.data.trim().is_empty() {
            return None;
        }
        let messages = match oversized::parse(event.data.as_bytes()) {
            Parsed::Json(Value::Array(batch)) => batch,
            Parsed::Json(single) => vec![single],
            Parsed::TooDeep { depth } => {
                return Some(Err(oversized::uncarriable(&oversized::too_deep(depth))))
            }
            Parsed::NotJson => {
                self.garbage("skipped an event whose data is not JSON");
                return None;
            }
        };
        let mut answer = None;
        for message in messages {
            match classify(message) {
                Incoming::Response {
                    id: Some(got),
                    outcome,
                } if got == id && answer.is_none() => {
                    answer = Some(outcome.map_err(|error| rpc_error(&error)));
                }
                Incoming::Response { .. } => self.garbage("skipped an answer to another request"),
                Incoming::Request { id, method, params } => self.server_request(id, method, params),
                Incoming::Notification(notification) => self.events.push(notification),
                Incoming::Invalid(why) => self.garbage(&format!("skipped an event: {why}")),
            }
        }
        answer
    }

    /// The server's own request: answered, or relayed to the agent and
    /// its answer posted back.
    fn server_request(self: &Arc<Self>, id: Value, method: String, params: Value) {
        let exchange = self.clone();
        let deliver = move |answer: Value| exchange.post_in_background(answer);
        // The session's end is not known here; the relay's own timeout
        // bounds the wait.
        if !answer_or_relay(
            &self.name,
            id,
            method,
            params,
            crossbeam_channel::never(),
            deliver,
        ) {
            self.garbage("skipped a request: no thread to relay it");
        }
    }

    fn garbage(&self, what: &str) {
        let mut limit = crate::sync::lock(&self.garbage);
        if let Some(skipped) = limit.allow(Instant::now()) {
            log::warn!("{}: {what}{}", self.name, left_out(skipped));
        }
    }
}

/// The delay before the GET stream is reopened: the server's `retry:` (in
/// milliseconds) within bounds, or our default.
fn listen_retry(retry: Option<u64>) -> Duration {
    retry
        .map_or(DEFAULT_RETRY, Duration::from_millis)
        .clamp(MIN_LISTEN_RETRY, MAX_LISTEN_RETRY)
}

/// Waits `delay`, or less when the session closes meanwhile (`closed`
/// disconnects then).
fn wait_unless_closed(closed: &Receiver<()>, delay: Duration) {
    let _ = closed.recv_timeout(delay);
}

/// The length of our longest request line to `url` (`DELETE <target>
/// HTTP/1.1`), CRLF excluded; the target is the path and query.
fn request_line_len(url: &str) -> usize {
    let target = url
        .parse::<ureq::http::Uri>()
        .ok()
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().len()))
        .unwrap_or(1);
    "DELETE ".len() + target + " HTTP/1.1".len()
}

fn stream_failure(failure: Failure) -> CallError {
    match failure {
        Failure::Timeout => CallError::Timeout,
        Failure::Lost => {
            CallError::transport("the server ended its event stream before answering", true)
        }
    }
}

/// Why a call that has ended sends nothing more.
fn over(call: &Resumption) -> CallError {
    match call.phase() {
        Phase::Failed(failure) => stream_failure(failure),
        _ => CallError::Timeout,
    }
}

fn read_body(response: &mut Response<Body>, limit: u64) -> Result<Vec<u8>, CallError> {
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(transport_error)
}

fn header_text(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_retry_is_kept_within_bounds() {
        assert_eq!(listen_retry(None), DEFAULT_RETRY);
        assert_eq!(listen_retry(Some(0)), MIN_LISTEN_RETRY);
        assert_eq!(listen_retry(Some(2_500)), Duration::from_millis(2_500));
        assert_eq!(listen_retry(Some(u64::MAX)), MAX_LISTEN_RETRY);
    }
}

//! The one HTTP client every platform call goes through: common headers,
//! per-call timeouts, bodies of any status readable as data, a size cap and
//! typed errors whose text never carries a secret.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector, RustlsConnector, TcpConnector,
};

use crate::config::Secret;
use crate::redact::redact;
use crate::resolver::LiteralFirst;

/// Platform answers larger than this are refused: a misbehaving edge must not
/// make us buffer gigabytes.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

/// The default timeout of a platform call (platform.md §3).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The per-connection read buffer, and so the largest response head
/// accepted (the platform's heads are under 1 KiB; common servers cap
/// theirs at 8 KiB).
const INPUT_BUFFER: usize = 16 * 1024;

/// The per-connection write buffer: the request head passes through it
/// line by line, the body in chunks. Its longest line is the request line,
/// whose query carries a `recall_memory` search text, percent-encoded.
const OUTPUT_BUFFER: usize = 8 * 1024;

/// The longest request line, CRLF excluded, the output buffer takes:
/// ureq-proto writes each head line whole or fails (with the blank line
/// after the last header: 4 bytes kept free).
pub const MAX_REQUEST_LINE: usize = OUTPUT_BUFFER - 4;

/// How much of an error body a log line may quote.
const SNIPPET_CHARS: usize = 200;

/// A failed exchange. HTTP error statuses are not errors here: they arrive as
/// a [`Response`] so callers can read the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No answer: refused, reset, timed out, DNS, TLS.
    Transport { kind: TransportKind, why: String },
    /// The answer was larger than [`MAX_BODY`].
    TooLarge,
    /// The answer was not the JSON the call expects.
    BadJson { status: u16, snippet: String },
}

/// Where an exchange failed, which decides whether sending it again is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection was refused or could not be made.
    Connect,
    /// The host name did not resolve.
    HostNotFound,
    /// Resolving or connecting took too long.
    ConnectTimeout,
    /// Sending or waiting for the answer took too long.
    Timeout,
    /// The request could not be built (a header value or URL).
    Build,
    /// The connection failed after it was made (reset, closed, TLS).
    Io,
    /// The request was never sent for a reason of this process.
    Local,
}

impl HttpError {
    pub fn transport(kind: TransportKind, why: impl Into<String>) -> Self {
        HttpError::Transport {
            kind,
            why: why.into(),
        }
    }

    /// Failed before any byte of the request reached the server, so sending
    /// it again cannot deliver it twice.
    pub fn is_connection_level(&self) -> bool {
        matches!(
            self,
            HttpError::Transport {
                kind: TransportKind::Connect
                    | TransportKind::HostNotFound
                    | TransportKind::ConnectTimeout,
                ..
            }
        )
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Transport { why, .. } => write!(f, "platform unreachable: {why}"),
            HttpError::TooLarge => write!(f, "platform answer larger than {MAX_BODY} bytes"),
            HttpError::BadJson { status, snippet } => {
                write!(f, "platform answered HTTP {status} with a body that is not the expected JSON: {snippet:?}")
            }
        }
    }
}

/// An answer of any status.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when the server sent a number.
    pub retry_after: Option<u64>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of any shape. Nesting a sender chose to make
    /// deeper than anything we read is pruned, never a refusal of the whole
    /// body (see `bounded_json`).
    pub fn json(&self) -> Result<Value, HttpError> {
        crate::bounded_json::from_slice(&self.body).map_err(|_| HttpError::BadJson {
            status: self.status,
            snippet: self.snippet(),
        })
    }

    /// At most 200 characters of the body, redacted, for logs and error texts.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }
}

/// At most 200 characters of `body`, lossily decoded and redacted.
pub fn snippet(body: &[u8]) -> String {
    crate::redact::clip(String::from_utf8_lossy(body).trim(), SNIPPET_CHARS)
}

/// What one call sends.
pub struct Call<'a> {
    pub method: &'a str,
    pub url: String,
    pub token: Option<&'a Secret>,
    /// The tenant's base URL: the edge answers a bare 404 without `Origin`.
    pub origin: &'a str,
    /// `X-Workspace-ID` for calls made "as" a workspace.
    pub as_workspace: Option<&'a str>,
    pub body: Option<Body>,
    pub timeout: Duration,
}

/// A request body.
pub enum Body {
    Json(Value),
    /// Raw bytes with their content type (multipart uploads).
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl<'a> Call<'a> {
    pub fn new(method: &'a str, url: String, origin: &'a str) -> Self {
        Call {
            method,
            url,
            token: None,
            origin,
            as_workspace: None,
            body: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn token(mut self, token: &'a Secret) -> Self {
        self.token = Some(token);
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    pub fn raw(mut self, content_type: String, bytes: Vec<u8>) -> Self {
        self.body = Some(Body::Raw {
            content_type,
            bytes,
        });
        self
    }

    pub fn as_workspace(mut self, id: &'a str) -> Self {
        self.as_workspace = Some(id);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A shareable client (the connection pool lives inside).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        Self::with_proxy(ureq::Proxy::try_from_env())
    }

    /// A client whose calls go through `proxy` (an HTTP CONNECT proxy).
    fn with_proxy(proxy: Option<ureq::Proxy>) -> Self {
        if let Some(proxy) = &proxy {
            if !matches!(
                proxy.protocol(),
                ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
            ) {
                log::warn!(
                    "the proxy set in the environment is a SOCKS proxy; only HTTP CONNECT \
                     proxies are supported, so platform calls may fail"
                );
            }
        }
        let config = ureq::Agent::config_builder()
            .proxy(proxy)
            .http_status_as_error(false)
            .user_agent(concat!("molecule-mcp/", env!("CARGO_PKG_VERSION")))
            .timeout_global(Some(DEFAULT_TIMEOUT))
            // Long calls (an A2A send waits minutes for its answer) still
            // give up on a dead address early, and the timeout says it
            // happened before anything was sent.
            .timeout_connect(Some(DEFAULT_TIMEOUT))
            // ureq's 128 KiB buffers per connection are sized for bulk
            // transfers. Platform calls are small, every workspace keeps a
            // connection and each call in flight holds one: both buffers
            // are zero-filled when a connection opens, so their whole size
            // is resident (16 calls in flight held 768 KiB at 32 + 16).
            // The input buffer bounds the response head; a body of any
            // size streams through it.
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_response_header_size(INPUT_BUFFER)
            .build();
        Client {
            agent: ureq::Agent::with_parts(config, connector(), LiteralFirst::default()),
        }
    }

    /// Sends one call and reads the whole answer (up to [`MAX_BODY`]).
    pub fn send(&self, call: Call<'_>) -> Result<Response, HttpError> {
        let timeout = call.timeout;
        let result = match prepare(call)? {
            Prepared::Bare(request) => self.run(request, timeout),
            Prepared::WithBody(request) => self.run(request, timeout),
        };
        read(result.map_err(transport_error)?)
    }
}

/// A request ready to send: with a body, or none at all (no
/// `Content-Length: 0` on a GET).
enum Prepared {
    Bare(ureq::http::Request<()>),
    WithBody(ureq::http::Request<Vec<u8>>),
}

/// Builds the request of `call`. Kept out of line, like [`read`]: every
/// request worker's stack holds the deepest frame it ever ran, and these
/// locals need not sit under ureq's (already 30 KiB deep) while it sends.
#[inline(never)]
fn prepare(call: Call<'_>) -> Result<Prepared, HttpError> {
    // ureq would fail it as "output too small", a lost connection to us.
    let line = request_line_len(call.method, &call.url);
    if line > MAX_REQUEST_LINE {
        return Err(HttpError::transport(
            TransportKind::Build,
            format!("request line of {line} bytes, over the {MAX_REQUEST_LINE} sent (an argument in the URL too long)"),
        ));
    }
    let mut builder = ureq::http::Request::builder()
        .method(call.method)
        .uri(&call.url)
        .header("Origin", call.origin)
        .header("Accept", "application/json");
    if let Some(token) = call.token {
        builder = builder.header("Authorization", format!("Bearer {}", token.expose()));
    }
    if let Some(ws) = call.as_workspace {
        builder = builder.header("X-Workspace-ID", ws);
    }
    let (content_type, bytes) = match call.body {
        Some(Body::Json(v)) => (
            Some("application/json".to_string()),
            v.to_string().into_bytes(),
        ),
        Some(Body::Raw {
            content_type,
            bytes,
        }) => (Some(content_type), bytes),
        None => (None, Vec::new()),
    };
    if let Some(ct) = &content_type {
        builder = builder.header("Content-Type", ct.as_str());
    }
    // A header value with a control character (a pasted token with a
    // newline, say) fails here; say which without quoting it.
    let unbuildable = |_| {
        HttpError::transport(
            TransportKind::Build,
            "request could not be built (invalid header value or URL)",
        )
    };
    if content_type.is_none() && bytes.is_empty() {
        builder.body(()).map(Prepared::Bare).map_err(unbuildable)
    } else {
        builder
            .body(bytes)
            .map(Prepared::WithBody)
            .map_err(unbuildable)
    }
}

/// Reads the whole answer (up to [`MAX_BODY`]).
#[inline(never)]
fn read(mut response: ureq::http::Response<ureq::Body>) -> Result<Response, HttpError> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge,
            other => transport_error(other),
        })?;
    Ok(Response {
        status,
        body,
        retry_after,
    })
}

impl Client {
    #[inline(never)]
    fn run<S: ureq::AsSendBody>(
        &self,
        request: ureq::http::Request<S>,
        timeout: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        self.agent.run(request)
    }
}

/// ureq's default connectors without the ones that only warn about
/// features not built in (SOCKS proxies, native-tls: see `with_proxy`).
/// Each link of the chain was a 7.7 KiB frame on the deepest stack of
/// every request worker (44 -> 36 KiB resident per worker, measured).
fn connector() -> impl Connector<(), Out = impl ureq::unversioned::transport::Transport> {
    ().chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(RustlsConnector::default())
}

fn transport_error(e: ureq::Error) -> HttpError {
    use std::io::ErrorKind as Io;
    use ureq::Timeout as T;
    let (kind, why) = match &e {
        ureq::Error::Timeout(T::Resolve | T::Connect) => (
            TransportKind::ConnectTimeout,
            "connect timed out".to_string(),
        ),
        ureq::Error::Timeout(_) => (TransportKind::Timeout, "timed out".to_string()),
        ureq::Error::HostNotFound => (TransportKind::HostNotFound, "host not found".to_string()),
        ureq::Error::ConnectionFailed => (TransportKind::Connect, "connection failed".to_string()),
        ureq::Error::Io(io) => {
            let kind = match io.kind() {
                Io::ConnectionRefused
                | Io::AddrNotAvailable
                | Io::NetworkUnreachable
                | Io::HostUnreachable => TransportKind::Connect,
                _ => TransportKind::Io,
            };
            (kind, format!("{}", io.kind()))
        }
        ureq::Error::BodyExceedsLimit(_) => return HttpError::TooLarge,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => (TransportKind::Build, e.to_string()),
        other => (TransportKind::Io, other.to_string()),
    };
    HttpError::transport(kind, redact(&why))
}

/// The length of `METHOD <path and query> HTTP/1.1` to `url`, CRLF
/// excluded.
pub fn request_line_len(method: &str, url: &str) -> usize {
    let target = url
        .parse::<ureq::http::Uri>()
        .ok()
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().len()))
        .unwrap_or(1);
    method.len() + 1 + target + " HTTP/1.1".len()
}

/// Joins a base URL and path segments, percent-encoding each segment so an
/// id can never add a path level or a query.
pub fn url(base: &str, segments: &[&str]) -> String {
    let mut out = String::with_capacity(base.len() + 64);
    out.push_str(base.trim_end_matches('/'));
    for seg in segments {
        out.push('/');
        encode_into(&mut out, seg);
    }
    out
}

/// Appends `?k=v&...` with each key and value percent-encoded.
pub fn with_query(mut url: String, pairs: &[(&str, &str)]) -> String {
    for (i, (k, v)) in pairs.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        encode_into(&mut url, k);
        url.push('=');
        encode_into(&mut url, v);
    }
    url
}

fn encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_never_doubles_slashes_and_encodes_segments() {
        assert_eq!(
            url("http://h:1/", &["registry", "heartbeat"]),
            "http://h:1/registry/heartbeat"
        );
        assert_eq!(
            url("http://h", &["workspaces", "a/b?c"]),
            "http://h/workspaces/a%2Fb%3Fc"
        );
    }

    #[test]
    fn query_is_encoded() {
        let u = with_query("http://h/x".into(), &[("q", "a b&c"), ("since_id", "7")]);
        assert_eq!(u, "http://h/x?q=a%20b%26c&since_id=7");
    }

    #[test]
    fn snippet_is_capped_and_redacted() {
        let long = "x".repeat(500);
        let cut = snippet(long.as_bytes());
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with('…'));
        let s = snippet(b"denied for Bearer abcdefghijklmnop");
        assert!(!s.contains("abcdefghijklmnop"), "{s}");
    }

    fn kind_of(result: Result<Response, HttpError>) -> Option<TransportKind> {
        match result {
            Err(HttpError::Transport { kind, .. }) => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn transport_failures_say_whether_anything_was_sent() {
        use std::io::Read;
        use std::net::TcpListener;
        let client = Client::new();
        let post = |url: String| {
            client.send(
                Call::new("POST", url, "http://127.0.0.1")
                    .json(serde_json::json!({"x": 1}))
                    .timeout(Duration::from_secs(5)),
            )
        };
        // Nobody listens: refused before anything was sent.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let refused = post(format!("http://127.0.0.1:{port}/a2a"));
        assert_eq!(kind_of(refused.clone()), Some(TransportKind::Connect));
        assert!(refused.unwrap_err().is_connection_level());
        // The server reads the request, then hangs up: it may have acted.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = conn.read(&mut buf);
            }
        });
        let dropped = post(format!("http://{addr}/a2a"));
        server.join().unwrap();
        assert_eq!(kind_of(dropped.clone()), Some(TransportKind::Io));
        assert!(!dropped.unwrap_err().is_connection_level());
        // A header value that cannot be sent never leaves the process.
        let token = Secret::new("bad\ntoken");
        let unbuilt =
            client.send(Call::new("GET", "http://127.0.0.1:1/".into(), "x").token(&token));
        assert_eq!(kind_of(unbuilt), Some(TransportKind::Build));
    }

    /// A CONNECT proxy for one connection: reads the CONNECT head,
    /// connects to its target, answers 200 and relays both ways. Returns
    /// the CONNECT line.
    fn connect_proxy(listener: std::net::TcpListener) -> std::thread::JoinHandle<String> {
        use std::io::{BufRead, BufReader, Write};
        use std::net::TcpStream;
        std::thread::spawn(move || {
            // A client that bypasses the proxy must fail the test, not hang it.
            let _ = listener.set_nonblocking(true);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let client = loop {
                match listener.accept() {
                    Ok((client, _)) => break client,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => return String::new(),
                }
            };
            let _ = client.set_nonblocking(false);
            let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
                line.clear();
            }
            let target = first.split_whitespace().nth(1).unwrap_or_default();
            let Ok(upstream) = TcpStream::connect(target) else {
                return first;
            };
            let mut to_client = client.try_clone().unwrap();
            let _ = to_client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let mut from_upstream = upstream.try_clone().unwrap();
            let mut to_upstream = upstream;
            let relay = std::thread::spawn(move || {
                let _ = std::io::copy(&mut reader, &mut to_upstream);
            });
            let _ = std::io::copy(&mut from_upstream, &mut to_client);
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = relay.join();
            first
        })
    }

    #[test]
    fn calls_go_through_an_http_connect_proxy() {
        use std::io::{Read, Write};
        use std::net::TcpListener;
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let served = std::thread::spawn(move || {
            let (mut conn, _) = server.accept().unwrap();
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let body = br#"{"ok":true}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(body);
            String::from_utf8_lossy(&head).into_owned()
        });
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let proxied = connect_proxy(proxy);
        let client = Client::with_proxy(Some(ureq::Proxy::new(&proxy_url).unwrap()));
        let answer = client
            .send(
                Call::new("GET", format!("http://{target}/registry/x"), "http://o")
                    .timeout(Duration::from_secs(5)),
            )
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json().unwrap(), serde_json::json!({"ok": true}));
        assert!(served
            .join()
            .unwrap()
            .starts_with("GET /registry/x HTTP/1.1"));
        assert_eq!(
            proxied.join().unwrap().trim(),
            format!("CONNECT {target} HTTP/1.1")
        );
    }

    #[test]
    fn bad_json_is_typed() {
        let r = Response {
            status: 200,
            body: b"<html>".to_vec(),
            retry_after: None,
        };
        assert!(matches!(
            r.json(),
            Err(HttpError::BadJson { status: 200, .. })
        ));
    }
}

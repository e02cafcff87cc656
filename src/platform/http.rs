//! The one HTTP client every platform call goes through: common headers,
//! per-call timeouts, bodies of any status readable as data, a size cap and
//! typed errors whose text never carries a secret.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::config::Secret;
use crate::redact::redact;

/// Platform answers larger than this are refused: a misbehaving edge must not
/// make us buffer gigabytes.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

/// The default timeout of a platform call (platform.md §3).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error body a log line may quote.
const SNIPPET_CHARS: usize = 200;

/// A failed exchange. HTTP error statuses are not errors here: they arrive as
/// a [`Response`] so callers can read the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No answer: refused, reset, timed out, DNS, TLS.
    Transport(String),
    /// The answer was larger than [`MAX_BODY`].
    TooLarge,
    /// The answer was not the JSON the call expects.
    BadJson { status: u16, snippet: String },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Transport(why) => write!(f, "platform unreachable: {why}"),
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

    /// The body as JSON of any shape.
    pub fn json(&self) -> Result<Value, HttpError> {
        serde_json::from_slice(&self.body).map_err(|_| HttpError::BadJson {
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
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("molecule-mcp/", env!("CARGO_PKG_VERSION")))
            .timeout_global(Some(DEFAULT_TIMEOUT))
            // ureq's 128 KiB buffers per connection are sized for bulk
            // transfers; platform calls are small, and every workspace
            // keeps a connection.
            .input_buffer_size(32 * 1024)
            .output_buffer_size(16 * 1024)
            .max_response_header_size(32 * 1024)
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Sends one call and reads the whole answer (up to [`MAX_BODY`]).
    pub fn send(&self, call: Call<'_>) -> Result<Response, HttpError> {
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
            HttpError::Transport("request could not be built (invalid header value or URL)".into())
        };
        let result = if content_type.is_none() && bytes.is_empty() {
            self.run(builder.body(()).map_err(unbuildable)?, call.timeout)
        } else {
            self.run(builder.body(bytes).map_err(unbuildable)?, call.timeout)
        };
        let mut response = result.map_err(transport_error)?;
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
}

impl Client {
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

fn transport_error(e: ureq::Error) -> HttpError {
    let why = match &e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::Io(io) => format!("{}", io.kind()),
        ureq::Error::BodyExceedsLimit(_) => return HttpError::TooLarge,
        other => other.to_string(),
    };
    HttpError::Transport(redact(&why))
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

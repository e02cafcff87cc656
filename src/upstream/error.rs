//! How a call to an upstream server can fail, typed where the failure is
//! produced so that nothing downstream has to guess from a message.

use std::fmt;

use serde_json::Value;

use crate::machine::breaker::Ending;

use crate::mcp::jsonrpc::{
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
};

/// Phrases servers use, inside a JSON-RPC error, for a transport session
/// they no longer know (gateway.md §3). Matched case-insensitively.
pub const EXPIRY_MARKERS: [&str; 6] = [
    "invalid or expired session",
    "session expired",
    "expired session",
    "session not found",
    "unknown session",
    "session terminated",
];

/// Whether an error text says the server forgot our session. Only for
/// servers that report expiry inside a JSON-RPC error; HTTP statuses are
/// classified where they are read. A 401 is auth, never expiry.
pub fn is_expiry_message(text: &str) -> bool {
    let lower = text.to_lowercase();
    EXPIRY_MARKERS.iter().any(|marker| lower.contains(marker))
}

#[derive(Debug, Clone)]
pub enum CallError {
    /// The connection is gone (child exited, pipe closed, connection
    /// refused/reset). `sent` = the request had been written before it died
    /// (outcome uncertain).
    Transport { detail: String, sent: bool },
    /// No answer within the call timeout (the transport sent
    /// `notifications/cancelled` upstream).
    Timeout,
    /// Our caller cancelled (the transport sent `notifications/cancelled`
    /// upstream).
    Cancelled,
    /// The server no longer knows our session: HTTP 404 on a request with a
    /// session id, HTTP 400 whose body speaks of the session, or a JSON-RPC
    /// error whose message matches [`EXPIRY_MARKERS`].
    SessionExpired { detail: String },
    /// HTTP 401/403.
    Auth { status: u16, detail: String },
    /// Any other non-2xx HTTP status.
    Http { status: u16, detail: String },
    /// A JSON-RPC error answer.
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// Not JSON-RPC, the wrong shape, a body too large, not an MCP endpoint.
    Protocol { detail: String },
    /// The server could not be started; `permanent` when retrying cannot
    /// help (command not found).
    Spawn { detail: String, permanent: bool },
    /// We closed the session (shutdown, or it was replaced).
    Closed,
    /// Too many of our requests to this server are still running; nothing
    /// was sent. The server may be healthy, only slow: not its failure.
    Busy { detail: String },
}

impl CallError {
    /// What the breaker makes of this failure; `None` when it is not the
    /// server's doing (auth has its own escalation, a closed session was
    /// closed by us).
    ///
    /// `Cancelled` is passed on as [`Ending::Cancelled`]: the breaker
    /// counts nothing for a cancelled call but fails a cancelled probe, so it
    /// needs to see it.
    pub fn breaker_ending(&self) -> Option<Ending> {
        let class = match self {
            CallError::Transport { .. } => Ending::Transport,
            CallError::Timeout => Ending::Timeout,
            CallError::Cancelled => Ending::Cancelled,
            // Reaching the breaker means the re-initialize or the retry
            // after expiry failed too.
            CallError::SessionExpired { .. } => Ending::Server,
            CallError::Auth { .. } | CallError::Closed => return None,
            // Counts nothing against a call, like a cancel, yet still fails
            // a probe that could not even be sent.
            CallError::Busy { .. } => Ending::Cancelled,
            // Wrong path or method: the URL is not an MCP endpoint.
            CallError::Http { status: 404, .. } | CallError::Http { status: 405, .. } => {
                Ending::Permanent
            }
            CallError::Http { .. } => Ending::Server,
            // The server (or its framing) in trouble, or the caller asked
            // for something it does not offer: the server itself is fine.
            CallError::Rpc { code, .. } => match *code {
                INTERNAL_ERROR | PARSE_ERROR | INVALID_REQUEST => Ending::Server,
                METHOD_NOT_FOUND | INVALID_PARAMS => Ending::AnsweredInvalidCall,
                // Application codes (resource not found, ...): the server
                // answered, so it is alive; the call was the problem.
                _ => Ending::AnsweredInvalidCall,
            },
            // On a live session a malformed or oversized answer is one bad
            // answer, not proof of a wrong endpoint; see `connect_ending`.
            CallError::Protocol { .. } => Ending::Server,
            CallError::Spawn {
                permanent: true, ..
            } => Ending::Permanent,
            CallError::Spawn {
                permanent: false, ..
            } => Ending::Transport,
        };
        Some(class)
    }

    /// The class of a failed connect or handshake: there, an answer that
    /// is not MCP means the URL or command is no MCP server, which retrying
    /// cannot mend.
    pub fn connect_ending(&self) -> Option<Ending> {
        match self {
            CallError::Protocol { .. } => Some(Ending::Permanent),
            other => other.breaker_ending(),
        }
    }

    /// Whether the connection itself is gone, which opens a breaker at once.
    pub fn is_transport_loss(&self) -> bool {
        self.breaker_ending() == Some(Ending::Transport)
    }

    /// A lost connection after the request was written: the call may have
    /// run, so it may be replayed only when the tool says that is harmless.
    #[cfg(test)]
    pub fn outcome_uncertain(&self) -> bool {
        matches!(self, CallError::Transport { sent: true, .. })
    }

    pub(crate) fn transport(detail: impl Into<String>, sent: bool) -> Self {
        CallError::Transport {
            detail: detail.into(),
            sent,
        }
    }

    pub(crate) fn protocol(detail: impl Into<String>) -> Self {
        CallError::Protocol {
            detail: detail.into(),
        }
    }

    /// A JSON-RPC `error` object as received, whatever its shape.
    pub(crate) fn from_rpc_error(error: &Value) -> Self {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = match error.get("message") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let data = error.get("data").filter(|d| !d.is_null()).cloned();
        CallError::Rpc {
            code,
            message,
            data,
        }
    }
}

/// How much of a server's text an error may quote.
const QUOTE_CHARS: usize = 300;

fn quote(text: &str) -> String {
    crate::redact::clip(text.trim(), QUOTE_CHARS)
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transport { detail, sent } => {
                let when = if *sent {
                    "after the request was sent"
                } else {
                    "before the request was sent"
                };
                write!(f, "connection lost {when}: {}", quote(detail))
            }
            CallError::Timeout => write!(f, "no answer within the call timeout"),
            CallError::Cancelled => write!(f, "cancelled"),
            CallError::SessionExpired { detail } => {
                write!(f, "session expired: {}", quote(detail))
            }
            CallError::Auth { status, detail } => {
                write!(
                    f,
                    "authentication rejected (HTTP {status}): {}",
                    quote(detail)
                )
            }
            CallError::Http { status, detail } => write!(f, "HTTP {status}: {}", quote(detail)),
            CallError::Rpc { code, message, .. } => {
                write!(f, "error {code}: {}", quote(message))
            }
            CallError::Protocol { detail } => write!(f, "protocol error: {}", quote(detail)),
            CallError::Spawn { detail, .. } => write!(f, "could not start: {}", quote(detail)),
            CallError::Closed => write!(f, "session closed"),
            CallError::Busy { detail } => write!(f, "{}; retry later", quote(detail)),
        }
    }
}

impl std::error::Error for CallError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_markers_match_case_insensitively() {
        for text in [
            "Invalid params: Invalid or expired session",
            "Session expired",
            "expired session: abc",
            "session not found",
            "Unknown session: abc123",
            "INVALID OR EXPIRED SESSION",
            "Session Terminated by server",
        ] {
            assert!(is_expiry_message(text), "{text}");
        }
    }

    #[test]
    fn unrelated_texts_are_not_expiry() {
        for text in [
            "Tool failed to execute",
            "Missing parameter",
            "Connection refused",
            "401 Unauthorized",
            "session",
            "",
        ] {
            assert!(!is_expiry_message(text), "{text}");
        }
    }

    #[test]
    fn breaker_classes() {
        let t = CallError::transport("eof", true);
        assert_eq!(t.breaker_ending(), Some(Ending::Transport));
        assert!(t.is_transport_loss());
        assert!(t.outcome_uncertain());
        assert!(!CallError::transport("refused", false).outcome_uncertain());
        assert_eq!(CallError::Timeout.breaker_ending(), Some(Ending::Timeout));
        assert_eq!(
            CallError::Cancelled.breaker_ending(),
            Some(Ending::Cancelled)
        );
        let auth = CallError::Auth {
            status: 401,
            detail: String::new(),
        };
        assert_eq!(auth.breaker_ending(), None);
        assert_eq!(CallError::Closed.breaker_ending(), None);
        let http = |status| CallError::Http {
            status,
            detail: String::new(),
        };
        assert_eq!(http(503).breaker_ending(), Some(Ending::Server));
        assert_eq!(http(404).breaker_ending(), Some(Ending::Permanent));
        let rpc = |code| CallError::Rpc {
            code,
            message: String::new(),
            data: None,
        };
        assert_eq!(rpc(-32603).breaker_ending(), Some(Ending::Server));
        assert_eq!(
            rpc(-32601).breaker_ending(),
            Some(Ending::AnsweredInvalidCall)
        );
        assert_eq!(
            rpc(-32602).breaker_ending(),
            Some(Ending::AnsweredInvalidCall)
        );
        let missing = CallError::Spawn {
            detail: String::new(),
            permanent: true,
        };
        assert_eq!(missing.breaker_ending(), Some(Ending::Permanent));
        assert!(!missing.is_transport_loss());
        assert_eq!(
            CallError::protocol("html").connect_ending(),
            Some(Ending::Permanent)
        );
        // One bad answer on a live session does not park the server.
        assert_eq!(
            CallError::protocol("too large").breaker_ending(),
            Some(Ending::Server)
        );
        assert_eq!(http(503).connect_ending(), Some(Ending::Server));
    }

    #[test]
    fn too_many_running_requests_is_no_server_failure() {
        let busy = CallError::Busy {
            detail: "64 requests to this server are still running".into(),
        };
        assert_eq!(busy.breaker_ending(), Some(Ending::Cancelled));
        assert!(!busy.is_transport_loss());
        assert!(!busy.outcome_uncertain());
        assert!(busy.to_string().contains("retry later"), "{busy}");
    }

    #[test]
    fn rpc_errors_of_any_shape_are_read() {
        let e =
            CallError::from_rpc_error(&json!({"code": -32602, "message": "bad", "data": {"x": 1}}));
        match e {
            CallError::Rpc {
                code,
                message,
                data,
            } => {
                assert_eq!(code, -32602);
                assert_eq!(message, "bad");
                assert_eq!(data, Some(json!({"x": 1})));
            }
            other => panic!("{other:?}"),
        }
        let odd = CallError::from_rpc_error(&json!("weird"));
        assert!(matches!(odd, CallError::Rpc { code: 0, .. }), "{odd:?}");
    }

    #[test]
    fn display_never_carries_a_bearer_token() {
        let e = CallError::Auth {
            status: 401,
            detail: "bad Authorization: Bearer abcdefghijklmnopqrstuvwxyz".into(),
        };
        let text = e.to_string();
        assert!(!text.contains("abcdefghijklmnopqrstuvwxyz"), "{text}");
        assert!(text.contains("401"), "{text}");
    }
}

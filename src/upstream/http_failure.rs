//! How a Streamable HTTP server's answers and ureq's failures map to
//! [`CallError`]: classified where they are produced, so that expiry, auth
//! and a lost connection never have to be guessed from a message later.

use serde_json::Value;

use super::error::{is_expiry_message, CallError};
use super::http_exchange::MAX_BODY;
use crate::redact::redact;

/// A JSON-RPC error answer; expiry is recognised by its message.
pub fn rpc_error(error: &Value) -> CallError {
    let error = CallError::from_rpc_error(error);
    match &error {
        CallError::Rpc { message, .. } if is_expiry_message(message) => CallError::SessionExpired {
            detail: message.clone(),
        },
        _ => error,
    }
}

/// A non-2xx answer, typed by its status and the start of its body.
/// `sent_session`: the request carried our session id.
pub fn status_error(status: u16, body: &[u8], sent_session: bool) -> CallError {
    let text = String::from_utf8_lossy(body);
    let detail = if text.trim().is_empty() {
        canonical_reason(status)
    } else {
        snippet(&text)
    };
    let rpc_message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string));
    match status {
        401 | 403 => CallError::Auth { status, detail },
        404 if sent_session => CallError::SessionExpired {
            detail: format!("HTTP 404 for our session: {detail}"),
        },
        400 if text.to_lowercase().contains("session") => CallError::SessionExpired {
            detail: format!("HTTP 400: {detail}"),
        },
        _ if rpc_message.as_deref().is_some_and(is_expiry_message) => CallError::SessionExpired {
            detail: format!("HTTP {status}: {detail}"),
        },
        _ => CallError::Http { status, detail },
    }
}

fn canonical_reason(status: u16) -> String {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no explanation")
        .to_string()
}

pub fn not_mcp(status: u16, content_type: &str) -> CallError {
    let what = if content_type.is_empty() {
        "no content type".to_string()
    } else {
        short(content_type)
    };
    CallError::protocol(format!(
        "not an MCP endpoint: it answered HTTP {status} ({what}) with something that is not JSON-RPC"
    ))
}

/// An answer over the cap: that call fails, the server is not blamed (the
/// call asked for too much).
pub fn too_large() -> CallError {
    super::oversized::uncarriable(&format!(
        "was over the {} MiB limit",
        MAX_BODY / (1024 * 1024)
    ))
}

pub fn unbuildable() -> CallError {
    CallError::protocol("the request could not be built (invalid URL or header)")
}

/// How ureq's failures map to ours. A connection lost after it was made
/// leaves the outcome uncertain: the request may have been read.
pub fn transport_error(e: ureq::Error) -> CallError {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(_) => CallError::Timeout,
        ureq::Error::HostNotFound => CallError::transport("host not found", false),
        ureq::Error::ConnectionFailed => CallError::transport("connection failed", false),
        ureq::Error::BodyExceedsLimit(_) => too_large(),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => unbuildable(),
        ureq::Error::Protocol(_) => {
            CallError::protocol("not an MCP endpoint: the answer is not valid HTTP")
        }
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => CallError::Timeout,
            kind @ (ErrorKind::ConnectionRefused
            | ErrorKind::AddrNotAvailable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::HostUnreachable
            | ErrorKind::NotFound) => {
                CallError::transport(format!("cannot connect: {kind}"), false)
            }
            kind => CallError::transport(format!("connection lost: {kind}"), true),
        },
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            CallError::transport(format!("TLS failed: {}", redact(&e.to_string())), false)
        }
        other => CallError::transport(redact(&other.to_string()), false),
    }
}

/// A short, redacted quote of a server's text.
pub fn snippet(text: &str) -> String {
    crate::redact::clip(text.trim(), 200)
}

pub fn short(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let typed = |status, body: &str, sent| status_error(status, body.as_bytes(), sent);
        assert!(matches!(
            typed(401, "", true),
            CallError::Auth { status: 401, .. }
        ));
        assert!(matches!(
            typed(403, "session", true),
            CallError::Auth { status: 403, .. }
        ));
        assert!(matches!(
            typed(404, "", true),
            CallError::SessionExpired { .. }
        ));
        assert!(matches!(
            typed(404, "", false),
            CallError::Http { status: 404, .. }
        ));
        assert!(matches!(
            typed(400, "No valid Session ID provided", false),
            CallError::SessionExpired { .. }
        ));
        assert!(matches!(
            typed(400, "bad json", true),
            CallError::Http { status: 400, .. }
        ));
        let expired =
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"Session not found"}}"#;
        assert!(matches!(
            typed(410, expired, true),
            CallError::SessionExpired { .. }
        ));
        match typed(502, "", true) {
            CallError::Http {
                status: 502,
                detail,
            } => assert_eq!(detail, "Bad Gateway"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rpc_errors_speaking_of_expiry_are_expiry() {
        let expired = serde_json::json!({"code": -32602, "message": "Invalid or expired session"});
        assert!(matches!(
            rpc_error(&expired),
            CallError::SessionExpired { .. }
        ));
        let other = serde_json::json!({"code": -32602, "message": "bad tag"});
        assert!(matches!(
            rpc_error(&other),
            CallError::Rpc { code: -32602, .. }
        ));
    }

    #[test]
    fn quotes_are_short_and_redacted() {
        let long = format!("Bearer abcdefghijklmnopqrstuvwxyz {}", "x".repeat(500));
        let quoted = snippet(&long);
        assert!(!quoted.contains("abcdefghijklmnopqrstuvwxyz"), "{quoted}");
        assert!(quoted.chars().count() < 260, "{}", quoted.chars().count());
    }
}

//! The words: what the agent reads when an upstream call does not go
//! through, and what the operator reads about upstream credentials. Short,
//! redacted, and each says whether to retry now, later, or not at all.

use super::call::Failure;
use super::config::TransportSpec;
use super::error::CallError;
use crate::machine::auth::{self, Kind};
use crate::machine::breaker::Rejection;
use crate::redact::redact;

/// How much of a last error a refusal quotes.
const QUOTE: usize = 160;

/// Why the breaker refused a call to `server`.
pub fn rejection(server: &str, rejection: Rejection, last_error: Option<&str>) -> String {
    let because = match last_error {
        Some(e) => format!(" (last error: {})", short(e)),
        None => String::new(),
    };
    match rejection {
        Rejection::Open { retry_in, failures } => {
            let secs = retry_in.as_secs_f64().ceil().max(1.0) as u64;
            let plural = if failures == 1 { "" } else { "s" };
            let unit = if secs == 1 { "second" } else { "seconds" };
            format!(
                "{server} is unreachable after {failures} failure{plural}{because}; retry in about \
                 {secs} {unit}, do not retry now."
            )
        }
        Rejection::Reconnecting => {
            format!("{server} is reconnecting; retry in a few seconds.")
        }
        Rejection::Parked(reason) => format!(
            "{server} is parked ({reason}){because}; a revive was requested, retry in a few seconds."
        ),
        Rejection::Stopped => format!("{server} is shutting down with molecule-mcp; do not retry."),
    }
}

/// Why a request to `server` (`what`: "tool X", "resources/read") failed.
pub fn failure(server: &str, what: &str, failure: &Failure, timeout_secs: f64) -> String {
    let text = match failure {
        Failure::Rejected(r) => rejection(server, *r, None),
        Failure::Stopped => format!("{server} is shutting down with molecule-mcp; do not retry."),
        Failure::Uncertain => format!(
            "{server}: the connection was lost while {what} was running; the outcome is \
             uncertain (it may or may not have run). Check its effect before retrying."
        ),
        Failure::Error {
            error,
            reconnect: true,
        } => {
            format!("{server}: the session expired and reconnecting failed ({error}); retry later.")
        }
        Failure::Error {
            error,
            reconnect: false,
        } => error_text(server, what, error, timeout_secs),
    };
    redact(&text)
}

fn error_text(server: &str, what: &str, error: &CallError, timeout_secs: f64) -> String {
    match error {
        CallError::Timeout => format!(
            "{server}: {what} got no answer within {timeout_secs:.0} seconds and was cancelled; \
             retry later."
        ),
        CallError::Cancelled => format!("{what} was cancelled."),
        CallError::Auth { status, .. } => format!(
            "{server} rejected molecule-mcp's credentials (HTTP {status}); the operator must fix \
             them in the servers file; do not retry."
        ),
        CallError::Transport { sent: false, .. } | CallError::Closed => format!(
            "{server}: the connection was lost before the request was sent; retry in a few seconds."
        ),
        CallError::Transport { sent: true, .. } => format!(
            "{server}: the connection was lost during {what}, twice; retry in a few seconds."
        ),
        CallError::SessionExpired { .. } => {
            format!("{server}: the session expired again right after reconnecting; retry later.")
        }
        CallError::Spawn {
            permanent: true, ..
        }
        | CallError::Protocol { .. } => {
            format!("{server}: {error}; retrying will not help until the operator fixes it.")
        }
        CallError::Spawn { .. } | CallError::Http { .. } => {
            format!("{server}: {error}; retry later.")
        }
        CallError::Rpc { .. } => format!("{server}: {what} failed: {error}; retry later."),
        CallError::Busy { .. } => format!("{server}: {what} was not sent: {error}."),
    }
}

/// The operator's line about an upstream's credentials (the upstream form
/// of `machine::auth::message`).
pub fn auth_log(effect: &auth::Effect, transport: &TransportSpec) -> String {
    let auth::Effect {
        status,
        count,
        threshold,
        subject,
        ..
    } = effect;
    match effect.kind {
        Kind::Warning => format!(
            "upstream {subject}: the server rejected our credentials (HTTP {status}, \
             {count}/{threshold} in a row); this may be transient, reconnecting"
        ),
        Kind::Escalated { first } => format!(
            "{again}upstream {subject}: the server rejected our credentials {count} times in a \
             row (HTTP {status}). Fix {what} in the MCP host's configuration and restart \
             molecule-mcp; until then the server is parked (it is still probed every minute, \
             in case the server side was at fault) and its tools are hidden.",
            again = if first { "" } else { "still failing: " },
            what = credentials(transport),
        ),
        Kind::Recovered => format!(
            "upstream {subject}: the server accepts our credentials again (HTTP {status}) after \
             {count} rejected requests"
        ),
    }
}

/// Which header (and variable) carries the credentials, by name only.
fn credentials(transport: &TransportSpec) -> String {
    let TransportSpec::Http { headers, .. } = transport else {
        return "its credentials in the servers file".into();
    };
    if headers.is_empty() {
        return "its credentials: the servers file sends no headers to it (does it need an \
                Authorization header?)"
            .into();
    }
    let names: Vec<&str> = headers.keys().map(String::as_str).collect();
    let mut variables: Vec<String> = headers.values().flat_map(|v| variables(v)).collect();
    variables.dedup();
    let mut text = format!("the {} header(s) in the servers file", names.join(", "));
    if !variables.is_empty() {
        let listed: Vec<String> = variables.iter().map(|v| format!("${v}")).collect();
        text.push_str(&format!(
            " or the variable(s) they use ({}) in molecule-mcp's environment",
            listed.join(", ")
        ));
    }
    text
}

/// The names in `${NAME}` references.
fn variables(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = &after[..end];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            found.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    found
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(QUOTE).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::breaker::ParkReason;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[test]
    fn refusals_say_what_and_when_to_retry() {
        let open = Rejection::Open {
            retry_in: Duration::from_millis(4200),
            failures: 3,
        };
        let text = rejection("files", open, Some("connection lost"));
        assert!(
            text.contains("files is unreachable after 3 failures"),
            "{text}"
        );
        assert!(
            text.contains("retry in about 5 seconds, do not retry now"),
            "{text}"
        );
        assert!(text.contains("connection lost"), "{text}");
        let text = rejection("files", Rejection::Reconnecting, None);
        assert!(text.contains("reconnecting"), "{text}");
        let text = rejection("files", Rejection::Parked(ParkReason::Probes), None);
        assert!(
            text.contains("parked (probes kept failing)") && text.contains("revive was requested"),
            "{text}"
        );
        assert!(rejection("f", Rejection::Stopped, None).contains("do not retry"));
    }

    #[test]
    fn failures_are_redacted() {
        let failure = Failure::Error {
            error: CallError::Http {
                status: 500,
                detail: "Authorization: Bearer sk-abcdefghijklmnopqrstuvwxyz".into(),
            },
            reconnect: false,
        };
        let text = super::failure("s", "tool t", &failure, 300.0);
        assert!(!text.contains("abcdefghijklmnopqrstuvwxyz"), "{text}");
        let plain = Failure::Error {
            error: CallError::Http {
                status: 503,
                detail: "busy".into(),
            },
            reconnect: false,
        };
        let text = super::failure("s", "tool t", &plain, 300.0);
        assert!(
            text.contains("503") && text.contains("retry later"),
            "{text}"
        );
        let uncertain = Failure::Uncertain;
        let text = super::failure("s", "tool t", &uncertain, 300.0);
        assert!(
            text.contains("uncertain") && text.contains("tool t"),
            "{text}"
        );
        let timeout = Failure::Error {
            error: CallError::Timeout,
            reconnect: false,
        };
        assert!(super::failure("s", "tool t", &timeout, 2.0).contains("within 2 seconds"));
    }

    #[test]
    fn the_auth_error_names_the_header_and_variable_never_the_value() {
        let mut headers = BTreeMap::new();
        headers.insert(
            "Authorization".to_string(),
            "Bearer ${SEARCH_TOKEN}".to_string(),
        );
        let transport = TransportSpec::Http {
            url: "https://x/mcp".into(),
            headers,
        };
        let effect = auth::Effect {
            level: log::Level::Error,
            kind: Kind::Escalated { first: true },
            status: 401,
            count: 3,
            threshold: 3,
            subject: "search".into(),
        };
        let text = auth_log(&effect, &transport);
        for needle in ["search", "Authorization", "$SEARCH_TOKEN", "401", "3 times"] {
            assert!(text.contains(needle), "{needle:?} missing: {text}");
        }
        assert!(!text.contains("Bearer"), "{text}");
    }

    #[test]
    fn variables_are_found_by_name() {
        assert_eq!(
            variables("a ${A} b ${B_2} ${} ${bad-name} ${C"),
            ["A", "B_2"]
        );
    }
}

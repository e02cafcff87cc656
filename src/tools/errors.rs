//! Turning a failed platform call into a text the agent can act on: what
//! happened, and what to do about it. Body snippets are at most 200
//! characters and redacted; tokens never appear.

use crate::config::TokenError;
use crate::platform::http::{HttpError, Response, TransportKind};

/// Why a platform call did not give the expected answer.
#[derive(Debug)]
pub enum Failure {
    /// The workspace token file could not be used.
    Token(TokenError),
    /// No usable answer: unreachable, timed out, too large.
    Http(HttpError),
    /// An answer with a status outside 2xx.
    Status(Response),
    /// A 2xx answer whose body is not what the call expects.
    Unexpected { status: u16, snippet: String },
    /// The request was cancelled while waiting.
    Cancelled,
}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::BadJson { status, snippet } => Failure::Unexpected { status, snippet },
            other => Failure::Http(other),
        }
    }
}

/// What a call was about, which decides what a 403 or 404 means.
#[derive(Debug, Clone, Copy)]
pub enum About<'a> {
    /// One of our own workspaces: 401/403 are about its token, 404 about
    /// its registration.
    Own(&'a str),
    /// Another workspace reached from `src`: 403 is the hierarchy, 404 and
    /// 503 are about the peer.
    Peer { src: &'a str, target: &'a str },
}

impl About<'_> {
    fn own_id(&self) -> &str {
        match self {
            About::Own(ws) => ws,
            About::Peer { src, .. } => src,
        }
    }
}

const TOKEN_ADVICE: &str = "Regenerate the token in the canvas Tokens tab, put it in the MCP \
                            configuration (MOLECULE_WORKSPACE_TOKEN or the token file) and restart.";

/// `"<action> failed: <what happened>. <what to do>"`.
pub fn explain(action: &str, about: About<'_>, failure: &Failure) -> String {
    format!("{action} failed: {}", reason(about, failure))
}

fn reason(about: About<'_>, failure: &Failure) -> String {
    match failure {
        Failure::Token(e) => format!(
            "the workspace token could not be read ({e}). Write exactly one token from the \
             canvas Tokens tab into that file."
        ),
        // Sent again it fails again: nothing about the network to check.
        Failure::Http(HttpError::Transport {
            kind: TransportKind::Build,
            why,
        }) => format!(
            "the request could not be built ({why}). Retrying with the same arguments \
             fails the same way."
        ),
        Failure::Http(HttpError::Transport { why, .. }) => format!(
            "the platform could not be reached ({why}). Retry later; if it keeps failing, \
             check PLATFORM_URL and the network."
        ),
        Failure::Http(HttpError::TooLarge) => {
            "the platform answered with an unexpectedly large body. Retry later.".into()
        }
        Failure::Http(HttpError::BadJson { status, snippet })
        | Failure::Unexpected { status, snippet } => format!(
            "the platform answered unexpectedly (HTTP {status}{}). Retry later; if it keeps \
             happening, the platform may run an incompatible version.",
            quoted(snippet)
        ),
        Failure::Cancelled => "the request was cancelled.".into(),
        Failure::Status(response) => status_reason(about, response),
    }
}

fn status_reason(about: About<'_>, response: &Response) -> String {
    let status = response.status;
    let said = quoted(&response.snippet());
    let own = about.own_id();
    match (status, about) {
        (401, _) => format!(
            "the platform refused the token of workspace {own} (HTTP 401{said}): it was \
             revoked or rotated, or belongs to another workspace. {TOKEN_ADVICE}"
        ),
        (403, About::Own(_)) => format!(
            "the token of workspace {own} is not allowed to do this (HTTP 403{said}). If the \
             token was rotated, or belongs to another workspace: {TOKEN_ADVICE}"
        ),
        (403, About::Peer { src, target }) => format!(
            "workspace {src} is not allowed to talk to {target} (HTTP 403{said}): the \
             workspace hierarchy does not permit it. Pick a peer from list_peers."
        ),
        (402, _) => format!(
            "the budget is exhausted (HTTP 402{said}). Ask the workspace owner to raise it in \
             the canvas, or try again later."
        ),
        (404, About::Own(_)) => format!(
            "workspace {own} is not registered on the platform or was not found (HTTP \
             404{said}). Check WORKSPACE_ID and PLATFORM_URL; the workspace may have been \
             deleted."
        ),
        (404, About::Peer { target, .. }) => format!(
            "workspace {target} was not found (HTTP 404{said}). Check the id with list_peers."
        ),
        (410, _) => format!(
            "the workspace was removed from the platform (HTTP 410{said}). Create a new \
             workspace and token in the canvas."
        ),
        (429, _) => format!(
            "the platform is limiting requests (HTTP 429{said}). Retry in {}.",
            retry_hint(response)
        ),
        (503, About::Peer { target, .. }) => format!(
            "workspace {target} is not available right now (HTTP 503{said}). Retry in {}.",
            retry_hint(response)
        ),
        (500..=599, _) => {
            format!("the platform had an internal error (HTTP {status}{said}). Retry later.")
        }
        _ => format!("the platform rejected the request (HTTP {status}{said})."),
    }
}

fn retry_hint(response: &Response) -> String {
    match response.retry_after {
        Some(secs) => format!("{secs} s"),
        None => "a minute".into(),
    }
}

/// `: "<snippet>"`, or nothing for an empty body.
fn quoted(snippet: &str) -> String {
    if snippet.is_empty() {
        String::new()
    } else {
        format!(": {snippet:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenFault;
    use crate::platform::http::TransportKind;
    use std::path::PathBuf;

    fn status(code: u16, body: &str) -> Failure {
        Failure::Status(Response {
            status: code,
            body: body.as_bytes().to_vec(),
            retry_after: None,
        })
    }

    const OWN: About<'static> = About::Own("ws-1");
    const PEER: About<'static> = About::Peer {
        src: "ws-1",
        target: "peer-9",
    };

    fn says(about: About<'_>, failure: Failure, words: &[&str]) {
        let text = explain("list_peers", about, &failure);
        assert!(text.starts_with("list_peers failed: "), "{text}");
        for w in words {
            assert!(text.contains(w), "{w:?} not in {text:?}");
        }
    }

    #[test]
    fn auth_failures_point_at_the_token() {
        says(
            OWN,
            status(401, "{}"),
            &["HTTP 401", "ws-1", "Tokens tab", "revoked"],
        );
        says(PEER, status(401, ""), &["HTTP 401", "Tokens tab"]);
        says(
            OWN,
            status(403, "nope"),
            &["HTTP 403", "Tokens tab", "\"nope\""],
        );
    }

    #[test]
    fn peer_403_is_the_hierarchy_and_404_names_the_peer() {
        says(
            PEER,
            status(403, ""),
            &[
                "ws-1 is not allowed to talk to peer-9",
                "hierarchy",
                "list_peers",
            ],
        );
        says(
            PEER,
            status(404, ""),
            &["peer-9 was not found", "list_peers"],
        );
        says(
            OWN,
            status(404, ""),
            &["ws-1 is not registered", "WORKSPACE_ID"],
        );
    }

    #[test]
    fn budget_and_server_errors() {
        says(
            PEER,
            status(402, "budget exceeded"),
            &["budget is exhausted", "HTTP 402"],
        );
        says(
            OWN,
            status(500, "boom"),
            &["HTTP 500", "Retry later", "\"boom\""],
        );
        says(OWN, status(502, ""), &["HTTP 502", "Retry later"]);
        let busy = Failure::Status(Response {
            status: 503,
            body: Vec::new(),
            retry_after: Some(7),
        });
        says(PEER, busy, &["peer-9 is not available", "Retry in 7 s"]);
        says(
            OWN,
            status(418, "teapot"),
            &["rejected the request (HTTP 418: \"teapot\")"],
        );
    }

    #[test]
    fn transport_and_garbage() {
        says(
            OWN,
            Failure::Http(HttpError::transport(
                TransportKind::Connect,
                "connection failed",
            )),
            &["could not be reached (connection failed)", "Retry later"],
        );
        says(
            OWN,
            Failure::Unexpected {
                status: 200,
                snippet: "<html>".into(),
            },
            &["answered unexpectedly (HTTP 200: \"<html>\")"],
        );
        says(
            OWN,
            Failure::Http(HttpError::TooLarge),
            &["unexpectedly large"],
        );
        says(OWN, Failure::Cancelled, &["cancelled"]);
    }

    #[test]
    fn token_file_problems_name_the_file_only() {
        let e = TokenError {
            path: PathBuf::from("/run/tok"),
            kind: TokenFault::NotFound,
        };
        says(OWN, Failure::Token(e), &["/run/tok", "Tokens tab"]);
    }

    #[test]
    fn bodies_are_capped_and_redacted() {
        let body = format!("Bearer abcdefghijklmnopqrstuvwxyz {}", "x".repeat(1000));
        let text = explain("t", OWN, &status(500, &body));
        assert!(!text.contains("abcdefghijklmnopqrstuvwxyz"), "{text}");
        assert!(text.len() < 600, "{}", text.len());
    }

    #[test]
    fn bad_json_from_the_client_reads_as_unexpected() {
        let f: Failure = HttpError::BadJson {
            status: 200,
            snippet: "x".into(),
        }
        .into();
        assert!(matches!(f, Failure::Unexpected { status: 200, .. }));
    }
}

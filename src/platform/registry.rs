//! The registry calls of one workspace: register, heartbeat and the
//! workspace lookup that tells a deleted workspace from a revoked token.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{self, Call, Client, HttpError, Response};
use crate::config::{Secret, Workspace};

/// What the platform answered, reduced to what the link needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx, with the fields we persist when present and well-formed.
    Ok {
        secret: Option<String>,
        minted_token: Option<String>,
        /// The workspace's configuration generation, when the platform
        /// numbers them.
        generation: Option<i64>,
    },
    /// Any non-2xx status, with a redacted body snippet for the log.
    Status { status: u16, snippet: String },
    /// No answer at all.
    Transport(String),
}

/// The register body of platform.md §4.
pub fn register_body(ws: &Workspace) -> Value {
    json!({
        "id": ws.id,
        "url": "",
        "agent_card": ws.agent_card.to_json(),
        "delivery_mode": "poll",
    })
}

/// The heartbeat body of platform.md §5, with the generation last seen
/// (`observed_generation`) once the platform sent one.
pub fn heartbeat_body(workspace_id: &str, uptime: Duration, observed: Option<i64>) -> Value {
    let mut body = json!({
        "workspace_id": workspace_id,
        "error_rate": 0.0,
        "sample_error": "",
        "active_tasks": 0,
        "uptime_seconds": uptime.as_secs(),
    });
    if let Some(generation) = observed {
        body["observed_generation"] = json!(generation);
    }
    body
}

pub fn register(client: &Client, ws: &Workspace, token: &Secret) -> Answer {
    let url = http::url(&ws.platform_url, &["registry", "register"]);
    let call = Call::new("POST", url, &ws.platform_url)
        .token(token)
        .json(register_body(ws));
    answer(client.send(call))
}

pub fn heartbeat(
    client: &Client,
    ws: &Workspace,
    token: &Secret,
    uptime: Duration,
    observed: Option<i64>,
) -> Answer {
    let url = http::url(&ws.platform_url, &["registry", "heartbeat"]);
    let call = Call::new("POST", url, &ws.platform_url)
        .token(token)
        .json(heartbeat_body(&ws.id, uptime, observed));
    answer(client.send(call))
}

/// Why the token stopped working, as far as the platform will say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// 410: the workspace was deleted (with `removed_at` when given).
    Deleted { removed_at: Option<String> },
    /// 2xx, 401 or 403: the workspace is there, so the token was rotated
    /// or revoked.
    RevokedOrRotated,
    /// Any other answer, or none: the platform did not say (`HTTP 404`,
    /// `platform unreachable: ...`).
    Unconfirmed(String),
}

pub fn diagnose(client: &Client, ws: &Workspace, token: &Secret) -> Diagnosis {
    let url = http::url(&ws.platform_url, &["workspaces", &ws.id]);
    let call = Call::new("GET", url, &ws.platform_url).token(token);
    diagnosis(client.send(call))
}

fn diagnosis(result: Result<Response, HttpError>) -> Diagnosis {
    match result {
        Ok(r) if r.status == 410 => Diagnosis::Deleted {
            removed_at: r
                .json()
                .ok()
                .and_then(|v| v.get("removed_at").and_then(Value::as_str).map(safe_text)),
        },
        Ok(r) if r.is_success() || r.status == 401 || r.status == 403 => {
            Diagnosis::RevokedOrRotated
        }
        Ok(r) => Diagnosis::Unconfirmed(format!("HTTP {}", r.status)),
        Err(e) => Diagnosis::Unconfirmed(e.to_string()),
    }
}

/// Quoted platform text, limited to a short run of printable characters.
fn safe_text(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn answer(result: Result<Response, HttpError>) -> Answer {
    match result {
        Ok(r) if r.is_success() => {
            // Anything but a JSON object is simply nothing to persist.
            let body = r.json().ok();
            let field = |name: &str| {
                body.as_ref()
                    .and_then(|v| v.get(name))
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| valid_secret(s))
                    .map(str::to_string)
            };
            Answer::Ok {
                secret: field("platform_inbound_secret"),
                minted_token: field("auth_token"),
                generation: body
                    .as_ref()
                    .and_then(|v| v.get("generation"))
                    .and_then(Value::as_i64),
            }
        }
        Ok(r) => Answer::Status {
            status: r.status,
            snippet: r.snippet(),
        },
        // Too large counts as no usable answer: warned about, auth untouched.
        Err(e) => Answer::Transport(e.to_string()),
    }
}

/// A secret or token we are willing to write to disk: non-empty, one line,
/// no whitespace or control characters, and of a sane size.
fn valid_secret(s: &str) -> bool {
    !s.is_empty() && s.len() <= 4096 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::http::TransportKind;

    fn ok(body: &str) -> Result<Response, HttpError> {
        Ok(Response {
            status: 200,
            body: body.as_bytes().to_vec(),
            retry_after: None,
        })
    }

    #[test]
    fn secret_is_taken_only_from_a_well_formed_object() {
        let none = Answer::Ok {
            secret: None,
            minted_token: None,
            generation: None,
        };
        assert_eq!(answer(ok("<html>hi</html>")), none);
        assert_eq!(answer(ok("[1,2]")), none);
        assert_eq!(answer(ok(r#"{"platform_inbound_secret": 42}"#)), none);
        assert_eq!(answer(ok(r#"{"platform_inbound_secret": ""}"#)), none);
        assert_eq!(answer(ok(r#"{"platform_inbound_secret": "a b"}"#)), none);
        assert_eq!(
            answer(ok(
                r#"{"platform_inbound_secret": "s3cret", "auth_token": "tok"}"#
            )),
            Answer::Ok {
                secret: Some("s3cret".into()),
                minted_token: Some("tok".into()),
                generation: None,
            }
        );
    }

    #[test]
    fn generation_is_an_integer_or_nothing() {
        let generation = |body: &str| match answer(ok(body)) {
            Answer::Ok { generation, .. } => generation,
            other => panic!("{other:?}"),
        };
        assert_eq!(generation(r#"{"generation": 7}"#), Some(7));
        assert_eq!(generation(r#"{"generation": "7"}"#), None);
        assert_eq!(generation(r#"{"generation": 1.5}"#), None);
        assert_eq!(generation(r#"{}"#), None);
        let body = heartbeat_body("w", Duration::from_secs(3), Some(7));
        assert_eq!(body["observed_generation"], 7);
        assert!(heartbeat_body("w", Duration::ZERO, None)
            .get("observed_generation")
            .is_none());
    }

    #[test]
    fn statuses_and_transport_are_kept_apart() {
        let r = Response {
            status: 401,
            body: b"{\"error\":\"bad token\"}".to_vec(),
            retry_after: None,
        };
        assert!(matches!(answer(Ok(r)), Answer::Status { status: 401, .. }));
        assert!(matches!(
            answer(Err(HttpError::transport(TransportKind::Connect, "refused"))),
            Answer::Transport(_)
        ));
    }

    #[test]
    fn only_an_answer_that_knows_the_workspace_says_it_exists() {
        let status = |code: u16| {
            Ok(Response {
                status: code,
                body: Vec::new(),
                retry_after: None,
            })
        };
        for code in [200, 401, 403] {
            assert_eq!(diagnosis(status(code)), Diagnosis::RevokedOrRotated);
        }
        assert!(matches!(diagnosis(status(410)), Diagnosis::Deleted { .. }));
        for code in [404, 500, 503] {
            assert_eq!(
                diagnosis(status(code)),
                Diagnosis::Unconfirmed(format!("HTTP {code}"))
            );
        }
        let down = diagnosis(Err(HttpError::transport(TransportKind::Connect, "refused")));
        assert!(matches!(down, Diagnosis::Unconfirmed(ref why) if why.contains("unreachable")));
    }

    #[test]
    fn heartbeat_body_has_the_contract_fields() {
        let b = heartbeat_body("ws-1", Duration::from_millis(61_900), None);
        assert_eq!(b["workspace_id"], "ws-1");
        assert_eq!(b["uptime_seconds"], 61);
        assert_eq!(b["error_rate"], 0.0);
        assert_eq!(b["sample_error"], "");
        assert_eq!(b["active_tasks"], 0);
    }
}

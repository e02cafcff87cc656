//! One request to one upstream, on the worker that serves it: admission,
//! the request, and what to do when it fails (the decisions of
//! `machine::session::Attempt`): renew an expired session and retry once,
//! replay a lost request only when that is harmless, report the outcome.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use serde_json::Value;

use super::error::CallError;
use super::lease::{DriverHandle, Lease, Report};
use super::session::Session;
use crate::machine::breaker::{Ending, Rejection};
use crate::machine::session::{Attempt, Decision, Outcome};

/// More decisions than any path through the machine takes (it ends within
/// four); a bound, not a budget.
const MAX_STEPS: usize = 8;

/// What to send and how.
pub struct Request<'a> {
    pub method: &'a str,
    pub params: Value,
    /// The tool is annotated read-only or idempotent.
    pub replayable: bool,
    /// Per try.
    pub timeout: Duration,
    /// How long to wait for a session (a connect may be running).
    pub connect_wait: Duration,
    /// Skip servers whose `initialize` did not offer this capability.
    pub capability: Option<&'a str>,
}

/// Why there is no answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The breaker refused the call before it reached the server.
    Rejected(Rejection),
    /// Shutting down.
    Stopped,
    /// The request failed. `reconnect`: the session expired (or was lost)
    /// and getting a new one failed.
    Error { error: CallError, reconnect: bool },
    /// The connection died after the request was sent: it may have run.
    Uncertain,
}

/// Runs the request. `Ok(None)`: the server does not offer the capability.
pub fn run(
    handle: &DriverHandle,
    request: Request<'_>,
    cancel: &Receiver<()>,
) -> Result<Option<Value>, Failure> {
    let (mut session, mut generation) = match handle.admit(request.connect_wait, cancel) {
        Lease::Go {
            session,
            generation,
        } => (session, generation),
        Lease::Rejected(rejection) => return Err(Failure::Rejected(rejection)),
        Lease::Failed(error) => {
            return Err(Failure::Error {
                error,
                reconnect: false,
            })
        }
        Lease::Stopped => return Err(Failure::Stopped),
    };
    if let Some(capability) = request.capability {
        if !offers(session.as_ref(), capability) {
            return Ok(None);
        }
    }
    let mut attempt = Attempt::new(request.replayable);
    let mut result = send(&session, &request, cancel);
    let mut outcome = classify(&result);
    for _ in 0..MAX_STEPS {
        let Some(decision) = attempt.handle(outcome).into_iter().next() else {
            break;
        };
        match decision {
            Decision::Return => {
                return match result {
                    Ok(value) => {
                        handle.report(generation, judge(request.method, &value));
                        Ok(Some(value))
                    }
                    Err(error) => Err(Failure::Error {
                        error,
                        reconnect: false,
                    }),
                };
            }
            Decision::Renew => match handle.renew(generation, request.connect_wait, cancel) {
                Lease::Go {
                    session: fresh,
                    generation: renewed,
                } => {
                    session = fresh;
                    generation = renewed;
                    outcome = Outcome::Renewed;
                }
                Lease::Failed(error) => {
                    outcome =
                        Outcome::RenewFailed(error.connect_ending().unwrap_or(Ending::Server));
                    result = Err(error);
                }
                Lease::Rejected(_) | Lease::Stopped => return Err(Failure::Stopped),
            },
            Decision::Retry => {
                result = send(&session, &request, cancel);
                outcome = classify(&result);
            }
            Decision::Fail { class, counted } => {
                if !counted {
                    handle.report(generation, Report::Failure(class));
                }
                return Err(Failure::Error {
                    error: error_of(result),
                    reconnect: counted,
                });
            }
            Decision::Uncertain => {
                handle.report(generation, Report::Failure(Ending::Transport));
                return Err(Failure::Uncertain);
            }
            Decision::AuthRejected => {
                let error = error_of(result);
                if let CallError::Auth { status, .. } = &error {
                    handle.report(generation, Report::Auth(*status));
                }
                return Err(Failure::Error {
                    error,
                    reconnect: false,
                });
            }
        }
    }
    Err(Failure::Error {
        error: CallError::Protocol {
            detail: "the request did not come to an end".into(),
        },
        reconnect: false,
    })
}

fn send(
    session: &Arc<dyn Session>,
    request: &Request<'_>,
    cancel: &Receiver<()>,
) -> Result<Value, CallError> {
    session.request(
        request.method,
        request.params.clone(),
        request.timeout,
        cancel,
    )
}

/// The decision machine's view of a try.
fn classify(result: &Result<Value, CallError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Answered,
        // Only a transport with sessions (HTTP) says so, where it reads the
        // answer. A stdio error that speaks of a "session" is the tool's
        // own: stdio has no transport session to renew.
        Err(CallError::SessionExpired { .. }) => Outcome::Expired,
        Err(CallError::Transport { sent, .. }) => Outcome::Lost { sent: *sent },
        // Closed under the request by us (a renewal elsewhere): it may have
        // run, like any request lost in flight.
        Err(CallError::Closed) => Outcome::Lost { sent: true },
        Err(CallError::Auth { .. }) => Outcome::Auth,
        Err(error) => Outcome::Failed(error.breaker_ending().unwrap_or(Ending::Server)),
    }
}

/// A tool result with `isError` is the tool saying no: an answer, not a
/// server failure.
fn judge(method: &str, value: &Value) -> Report {
    if method == "tools/call" && value.get("isError").and_then(Value::as_bool) == Some(true) {
        Report::Failure(Ending::AnsweredToolError)
    } else {
        Report::Success
    }
}

fn error_of(result: Result<Value, CallError>) -> CallError {
    match result {
        Err(error) => error,
        Ok(_) => CallError::Protocol {
            detail: "an answer arrived but was not used".into(),
        },
    }
}

fn offers(session: &dyn Session, capability: &str) -> bool {
    session
        .info()
        .get("capabilities")
        .and_then(|c| c.get(capability))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classification_follows_the_error_kind() {
        let expired = Err(CallError::SessionExpired {
            detail: "gone".into(),
        });
        assert_eq!(classify(&expired), Outcome::Expired);
        // A JSON-RPC error naming a session is an answer (stdio has no
        // transport session; HTTP classifies its own before this).
        let in_rpc = Err(CallError::Rpc {
            code: -32602,
            message: "Invalid params: Invalid or expired session".into(),
            data: None,
        });
        assert_eq!(
            classify(&in_rpc),
            Outcome::Failed(Ending::AnsweredInvalidCall)
        );
        // One bad answer on a live session is no reason to park.
        assert_eq!(
            classify(&Err(CallError::protocol("the answer is too large"))),
            Outcome::Failed(Ending::Server)
        );
        // Too many of our own requests running: not the server's failure.
        assert_eq!(
            classify(&Err(CallError::Busy {
                detail: "64 running".into()
            })),
            Outcome::Failed(Ending::Cancelled)
        );
        let unrelated = Err(CallError::Rpc {
            code: -32603,
            message: "Tool execution failed".into(),
            data: None,
        });
        assert_eq!(classify(&unrelated), Outcome::Failed(Ending::Server));
        let lost = Err(CallError::Transport {
            detail: "eof".into(),
            sent: true,
        });
        assert_eq!(classify(&lost), Outcome::Lost { sent: true });
        assert_eq!(
            classify(&Err(CallError::Closed)),
            Outcome::Lost { sent: true }
        );
        let auth = Err(CallError::Auth {
            status: 401,
            detail: String::new(),
        });
        assert_eq!(classify(&auth), Outcome::Auth);
        assert_eq!(classify(&Ok(json!({}))), Outcome::Answered);
        assert_eq!(
            classify(&Err(CallError::Cancelled)),
            Outcome::Failed(Ending::Cancelled)
        );
    }

    #[test]
    fn tool_errors_are_answers() {
        let no = json!({"content": [], "isError": true});
        assert_eq!(
            judge("tools/call", &no),
            Report::Failure(Ending::AnsweredToolError)
        );
        assert_eq!(
            judge("tools/call", &json!({"content": []})),
            Report::Success
        );
        assert_eq!(judge("resources/read", &no), Report::Success);
    }
}

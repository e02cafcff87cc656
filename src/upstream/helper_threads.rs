//! The helper threads a driver sends out so that it never blocks on I/O
//! itself: connect, probe, keep-alive, list refresh, close. Each reports
//! back on the driver's channel and ends, except a connect whose session
//! reads on its own (HTTP's GET stream): that thread lives as long as the
//! session.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use serde_json::{json, Value};

use super::config::{ServerSpec, TransportSpec};
use super::error::CallError;
use super::lease::ToDriver;
use super::lists::Lists;
use super::session::{self, Session};
use crate::config::EnvMap;
use crate::mcp::jsonrpc::METHOD_NOT_FOUND;
use crate::shutdown::Shutdown;
use crate::threads::{self, Refused};

/// Pages read from one list before the rest is ignored: a server that keeps
/// handing out cursors must not keep us reading forever.
const MAX_PAGES: usize = 50;

/// Connects `spec` with its `${VAR}`s expanded now (a rotated secret is
/// picked up); an unset variable is a configuration error for this server,
/// reported like any failed connect.
pub(crate) fn connect_server(
    name: &str,
    spec: &ServerSpec,
    env: Arc<EnvMap>,
    shutdown: Shutdown,
    tx: Sender<ToDriver>,
) {
    match spec.transport.expanded(&env) {
        Ok(transport) => connect(name, transport, env, spec.connect_timeout, shutdown, tx),
        Err(reason) => {
            let error = CallError::Spawn {
                detail: format!("configuration: {reason}"),
                permanent: true,
            };
            let _ = tx.send(ToDriver::Connected(Err(error)));
        }
    }
}

/// Starts the transport and the handshake. A session that arrives after
/// shutdown started, or that nobody takes, is closed here: a connect must
/// never leave a child behind. A session handed over keeps this thread for
/// what it reads on its own (HTTP's GET stream) until it closes: one thread
/// per upstream fewer than a thread of its own, and no thread at all for a
/// server without a GET stream.
fn connect(
    name: &str,
    spec: TransportSpec,
    env: Arc<EnvMap>,
    timeout: Duration,
    shutdown: Shutdown,
    tx: Sender<ToDriver>,
) {
    let server = name.to_string();
    let fallback = tx.clone();
    let spawned = spawn(name, "connect", move || {
        let result = session::connect(&server, &spec, &env, timeout, &shutdown.signal());
        if shutdown.is_triggered() {
            if let Ok(session) = &result {
                session.close();
            }
            // The driver may still wait for the connect to end.
            let _ = tx.send(ToDriver::Connected(Err(CallError::Closed)));
            return;
        }
        let listener = result.as_ref().ok().and_then(|session| session.listener());
        if let Err(crossbeam_channel::SendError(ToDriver::Connected(Ok(session)))) =
            tx.send(ToDriver::Connected(result))
        {
            session.close();
            return;
        }
        // Nothing of the connect is held while listening (the expanded
        // headers included: they may hold secrets).
        drop((tx, env, shutdown, spec));
        if let Some(listen) = listener {
            listen();
        }
    });
    if let Err(e) = spawned {
        let _ = fallback.send(ToDriver::Connected(Err(thread_error(e))));
    }
}

/// The probe's check: `ping`, or `tools/list` for servers that answer
/// `ping` with "method not found".
pub(crate) fn ping(
    name: &str,
    session: Arc<dyn Session>,
    timeout: Duration,
    stop: Receiver<()>,
    tx: Sender<ToDriver>,
    done: fn(Result<(), CallError>) -> ToDriver,
) {
    let fallback = tx.clone();
    let spawned = spawn(name, "ping", move || {
        let _ = tx.send(done(check(session.as_ref(), timeout, &stop)));
    });
    if let Err(e) = spawned {
        let _ = fallback.send(done(Err(thread_error(e))));
    }
}

fn check(session: &dyn Session, timeout: Duration, stop: &Receiver<()>) -> Result<(), CallError> {
    match session.request("ping", json!({}), timeout, stop) {
        Err(CallError::Rpc { code, .. }) if code == METHOD_NOT_FOUND => session
            .request("tools/list", json!({}), timeout, stop)
            .map(drop),
        other => other.map(drop),
    }
}

/// Reads every list the server offers.
pub(crate) fn refresh(
    name: &str,
    session: Arc<dyn Session>,
    generation: u64,
    timeout: Duration,
    stop: Receiver<()>,
    tx: Sender<ToDriver>,
) {
    let fallback = tx.clone();
    let spawned = spawn(name, "lists", move || {
        let lists = read_lists(session.as_ref(), timeout, &stop);
        let _ = tx.send(ToDriver::Refreshed { generation, lists });
    });
    if let Err(e) = spawned {
        let _ = fallback.send(ToDriver::Refreshed {
            generation,
            lists: Err(thread_error(e)),
        });
    }
}

fn read_lists(
    session: &dyn Session,
    timeout: Duration,
    stop: &Receiver<()>,
) -> Result<Lists, CallError> {
    let offers = |what: &str| {
        session
            .info()
            .pointer(&format!("/capabilities/{what}"))
            .is_some()
    };
    // Tools are read even without the capability: some servers forget to
    // declare it, and "method not found" just means none.
    let tools = match read_all(session, "tools/list", "tools", timeout, stop) {
        Err(CallError::Rpc { code, .. }) if code == METHOD_NOT_FOUND => Vec::new(),
        other => other?,
    };
    let mut lists = Lists {
        tools: Some(tools),
        ..Lists::default()
    };
    // Each optional list stands alone: one the server fails to answer
    // keeps its previous contents and costs none of the others.
    let optional = |method: &str, key: &str| match read_all(session, method, key, timeout, stop) {
        Ok(items) => Ok(Some(items)),
        Err(e) if ends_refresh(&e) => Err(e),
        Err(e) => {
            log::debug!(
                "{method} failed; the previous list stands: {}",
                crate::redact::redact(&e.to_string())
            );
            Ok(None)
        }
    };
    if offers("resources") {
        lists.resources = optional("resources/list", "resources")?;
        lists.templates = optional("resources/templates/list", "resourceTemplates")?;
    }
    if offers("prompts") {
        lists.prompts = optional("prompts/list", "prompts")?;
    }
    Ok(lists)
}

/// Failures that say the session (not one list) is in trouble, or that we
/// stopped: the refresh ends and the driver sees them.
fn ends_refresh(error: &CallError) -> bool {
    matches!(
        error,
        CallError::Transport { .. }
            | CallError::SessionExpired { .. }
            | CallError::Auth { .. }
            | CallError::Cancelled
            | CallError::Closed
    )
}

/// One list, following `nextCursor` for at most [`MAX_PAGES`] pages.
pub(crate) fn read_all(
    session: &dyn Session,
    method: &str,
    key: &str,
    timeout: Duration,
    stop: &Receiver<()>,
) -> Result<Vec<Value>, CallError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let mut page = session.request(method, params, timeout, stop)?;
        // Moved out, not copied: a page holds the whole list.
        match page.get_mut(key).map(Value::take) {
            Some(Value::Array(found)) => items.extend(found),
            Some(_) => {
                return Err(CallError::Protocol {
                    detail: format!("the {method} answer's {key} is not a list"),
                })
            }
            None => {}
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() && cursor.as_deref() != Some(next) => {
                cursor = Some(next.to_string())
            }
            _ => return Ok(items),
        }
    }
    log::warn!("{method}: more than {MAX_PAGES} pages; the rest is left out");
    Ok(items)
}

/// Closes a session off the driver's thread (closing a stdio child may
/// take up to two seconds).
pub(crate) fn close(name: &str, session: Arc<dyn Session>) -> Option<JoinHandle<()>> {
    let keep = session.clone();
    match spawn(name, "close", move || session.close()) {
        Ok(handle) => Some(handle),
        Err(_) => {
            keep.close();
            None
        }
    }
}

/// Every helper holds a place in the server's own budget of helper
/// threads: a server that hangs each probe cannot make us start threads
/// without end, nor take the places of the others.
fn spawn(
    name: &str,
    what: &str,
    work: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, Refused> {
    let group = threads::upstream(name);
    threads::spawn(format!("upstream-{what}-{name}"), &group, work)
}

/// Nothing was sent: the connection is not known to be in trouble, so a
/// ping or list read refused this way must not close the session nor count
/// as the server's failure (its breaker sees a busy call, not a lost one).
fn thread_error(refused: Refused) -> CallError {
    CallError::Busy {
        detail: format!("cannot start a helper thread: {refused}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::never;

    /// Answers from a table: method → result, or an error.
    struct Scripted {
        info: Value,
        answers: Vec<(&'static str, Result<Value, CallError>)>,
    }

    impl Session for Scripted {
        fn request(
            &self,
            method: &str,
            _params: Value,
            _timeout: Duration,
            _cancel: &Receiver<()>,
        ) -> Result<Value, CallError> {
            self.answers
                .iter()
                .find(|(m, _)| *m == method)
                .map_or(Err(CallError::Closed), |(_, answer)| answer.clone())
        }
        fn notify(&self, _method: &str, _params: Value) -> Result<(), CallError> {
            Ok(())
        }
        fn events(&self) -> Receiver<Value> {
            never()
        }
        fn closed(&self) -> Receiver<()> {
            never()
        }
        fn info(&self) -> &Value {
            &self.info
        }
        fn close(&self) {}
        fn stderr_tail(&self) -> Vec<String> {
            Vec::new()
        }
    }

    fn internal() -> CallError {
        CallError::Rpc {
            code: -32603,
            message: "boom".into(),
            data: None,
        }
    }

    #[test]
    fn a_helper_refused_for_want_of_a_place_is_no_failure_of_the_server() {
        use crate::machine::breaker::Ending;
        use crate::machine::upstream::Fault;
        for refused in [
            Refused::GroupFull { places: 64 },
            Refused::AllFull { places: 256 },
        ] {
            let error = thread_error(refused);
            assert!(!error.is_transport_loss(), "{error}");
            // A keep-alive or list read that fails so counts nothing; a
            // probe fails without closing the session.
            assert_eq!(
                super::super::fault::fault(&error, false),
                Fault::Failed(Ending::Cancelled)
            );
            // A connect refused so is no sign of a wrong endpoint.
            assert_eq!(
                super::super::fault::fault(&error, true),
                Fault::Failed(Ending::Cancelled)
            );
        }
    }

    #[test]
    fn a_failing_optional_list_keeps_the_tools_and_the_other_lists() {
        let session = Scripted {
            info: json!({"capabilities": {"resources": {}, "prompts": {}}}),
            answers: vec![
                ("tools/list", Ok(json!({"tools": [{"name": "echo"}]}))),
                ("resources/list", Err(internal())),
                (
                    "resources/templates/list",
                    Ok(json!({"resourceTemplates": []})),
                ),
                ("prompts/list", Ok(json!({"prompts": [{"name": "p"}]}))),
            ],
        };
        let lists = read_lists(&session, Duration::from_secs(1), &never());
        let lists = match lists {
            Ok(lists) => lists,
            Err(e) => panic!("the refresh failed: {e}"),
        };
        assert_eq!(lists.tools.map(|t| t.len()), Some(1));
        assert!(lists.resources.is_none());
        assert_eq!(lists.templates.map(|t| t.len()), Some(0));
        assert_eq!(lists.prompts.map(|p| p.len()), Some(1));
    }

    #[test]
    fn an_expired_session_on_an_optional_list_ends_the_refresh() {
        let session = Scripted {
            info: json!({"capabilities": {"prompts": {}}}),
            answers: vec![
                ("tools/list", Ok(json!({"tools": []}))),
                (
                    "prompts/list",
                    Err(CallError::SessionExpired {
                        detail: "gone".into(),
                    }),
                ),
            ],
        };
        let lists = read_lists(&session, Duration::from_secs(1), &never());
        assert!(
            matches!(lists, Err(CallError::SessionExpired { .. })),
            "{lists:?}"
        );
    }
}

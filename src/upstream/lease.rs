//! The worker's side of a driver: ask for a session (a lease), report how
//! the call went. Every ask is a small request/reply over the driver's
//! channel ([`ToDriver`]); the driver answers at once unless a connect is running,
//! and then when it ends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{after, bounded, select, Receiver, Sender};

use super::error::CallError;
use super::lists::Lists;
use super::session::Session;
use crate::machine::breaker::{Rejection, State};
use crate::machine::session::Generation;
use crate::machine::upstream::Answer;
use crate::sync::lock;

/// What a call gets when it asks for a session.
#[derive(Clone)]
pub enum Lease {
    Go {
        session: Arc<dyn Session>,
        generation: Generation,
    },
    /// The breaker refused the call.
    Rejected(Rejection),
    /// The connect this call waited for failed (or the wait itself did:
    /// timeout, cancelled).
    Failed(CallError),
    /// The upstream is shut down.
    Stopped,
}

pub use crate::machine::upstream::Report;

/// What a driver thread hears: the calls' asks and reports, and the
/// helper threads' results.
pub(crate) enum ToDriver {
    Ask {
        ask: Ask,
        reply: Sender<Lease>,
    },
    Report {
        generation: Generation,
        report: Report,
    },
    Connected(Result<Arc<dyn Session>, CallError>),
    Probed(Result<(), CallError>),
    KeptAlive(Result<(), CallError>),
    Refreshed {
        generation: Generation,
        lists: Result<Lists, CallError>,
    },
}

pub(crate) enum Ask {
    /// A call wants to go through: breaker admission, then a session.
    Admit,
    /// A call found the session of this generation expired (or lost).
    Renew(Generation),
}

/// What the driver shows of itself to `doctor` and to error texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub state: State,
    /// The last failure, short and redacted.
    pub last_error: Option<String>,
    pub tools: usize,
    /// A session is up.
    pub connected: bool,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            state: State::Closed,
            last_error: None,
            tools: 0,
            connected: false,
        }
    }
}

/// A cloneable handle on one upstream's driver thread.
#[derive(Clone)]
pub struct DriverHandle {
    asks: Sender<ToDriver>,
    status: Arc<Mutex<Status>>,
}

impl DriverHandle {
    pub(crate) fn new(asks: Sender<ToDriver>, status: Arc<Mutex<Status>>) -> Self {
        DriverHandle { asks, status }
    }

    /// Admission and a session. Waits at most `wait` (a connect may be
    /// running) and not past `cancel`.
    pub fn admit(&self, wait: Duration, cancel: &Receiver<()>) -> Lease {
        self.ask(Ask::Admit, wait, cancel)
    }

    /// A fresh session in place of `generation`.
    pub fn renew(&self, generation: Generation, wait: Duration, cancel: &Receiver<()>) -> Lease {
        self.ask(Ask::Renew(generation), wait, cancel)
    }

    pub fn report(&self, generation: Generation, report: Report) {
        // A driver that is gone has nothing left to learn.
        let _ = self.asks.send(ToDriver::Report { generation, report });
    }

    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    fn ask(&self, ask: Ask, wait: Duration, cancel: &Receiver<()>) -> Lease {
        let (reply, answer) = bounded(1);
        if self.asks.send(ToDriver::Ask { ask, reply }).is_err() {
            return Lease::Stopped;
        }
        wait_for(&answer, wait, cancel)
    }
}

fn wait_for(answer: &Receiver<Lease>, wait: Duration, cancel: &Receiver<()>) -> Lease {
    select! {
        recv(answer) -> lease => lease.unwrap_or(Lease::Stopped),
        recv(cancel) -> _ => Lease::Failed(CallError::Cancelled),
        recv(after(wait)) -> _ => Lease::Failed(CallError::Timeout),
    }
}

/// The lease for the machine's answer: `session` is the current one,
/// `connect_error` why the last connect failed.
pub(crate) fn lease(
    answer: Answer,
    session: Option<&Arc<dyn Session>>,
    connect_error: Option<&CallError>,
) -> Lease {
    match (answer, session) {
        (Answer::Go(generation), Some(session)) => Lease::Go {
            session: session.clone(),
            generation,
        },
        (Answer::Reject(rejection), _) => Lease::Rejected(rejection),
        (Answer::ConnectFailed, _) => {
            Lease::Failed(connect_error.cloned().unwrap_or(CallError::Closed))
        }
        (Answer::Stopped, _) => Lease::Stopped,
        (Answer::Go(_) | Answer::Closed, _) => Lease::Failed(CallError::Closed),
    }
}

/// Publishes what `doctor` and the error texts see of the driver.
pub(crate) fn publish(cell: &Mutex<Status>, status: Status) {
    *lock(cell) = status;
}

/// Where the driver sends a lease; a reply nobody waits for any more is
/// simply dropped.
pub(crate) fn send(reply: Sender<Lease>, lease: Lease) {
    let _ = reply.send(lease);
}

//! The worker's side of a driver: ask for a session (a lease), report how
//! the call went. Every ask is a small request/reply over the driver's
//! command channel; the driver answers at once unless a connect is running,
//! and then when it ends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{after, bounded, select, Receiver, Sender};

use super::error::CallError;
use super::session::Session;
use crate::machine::breaker::{Rejection, State};
use crate::machine::session::Generation;

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

/// The driver's standing answer to `Admit` while the breaker is closed and
/// a session is live: calls take it without a round trip to the driver
/// thread. The driver sets it after every step and clears it as soon as
/// either stops being true; a call that takes it a moment before is no
/// different from one admitted a moment earlier.
///
/// A failure report must still be seen before the next admission (three
/// failures must open the breaker for the fourth call): a call reporting a
/// failure withdraws the standing answer, and the driver may set it again
/// only once it has handled every such report.
#[derive(Clone, Default)]
pub(crate) struct FastLane(Arc<Mutex<Lane>>);

#[derive(Default)]
struct Lane {
    standing: Option<(Arc<dyn Session>, Generation)>,
    /// Failure reports sent and not yet handled by the driver.
    unreported: usize,
}

impl FastLane {
    fn with<T>(&self, f: impl FnOnce(&mut Lane) -> T) -> T {
        match self.0.lock() {
            Ok(mut lane) => f(&mut lane),
            Err(e) => f(&mut e.into_inner()),
        }
    }

    fn standing(&self) -> Option<(Arc<dyn Session>, Generation)> {
        self.with(|lane| lane.standing.clone())
    }

    /// A call is about to report a failure.
    fn failure_reported(&self) {
        self.with(|lane| {
            lane.unreported += 1;
            lane.standing = None;
        });
    }

    /// The driver handled a failure report.
    pub(crate) fn failure_handled(&self) {
        self.with(|lane| lane.unreported = lane.unreported.saturating_sub(1));
    }

    /// The driver's answer after a step; kept back while failure reports
    /// are on their way to it.
    pub(crate) fn set(&self, standing: Option<(Arc<dyn Session>, Generation)>) {
        self.with(|lane| {
            lane.standing = if lane.unreported == 0 { standing } else { None };
        });
    }
}

/// Reports that must reach the driver before the next admission.
pub(crate) fn is_failure(report: Report) -> bool {
    match report {
        Report::Success => false,
        Report::Failure(class) => class.is_failure(),
        Report::Auth(_) => true,
    }
}

/// A cloneable handle on one upstream's driver thread.
#[derive(Clone)]
pub struct DriverHandle {
    asks: Sender<super::driver::Command>,
    status: Arc<Mutex<Status>>,
    lane: FastLane,
}

impl DriverHandle {
    pub(crate) fn new(
        asks: Sender<super::driver::Command>,
        status: Arc<Mutex<Status>>,
        lane: FastLane,
    ) -> Self {
        DriverHandle { asks, status, lane }
    }

    /// Admission and a session. Waits at most `wait` (a connect may be
    /// running) and not past `cancel`.
    pub fn admit(&self, wait: Duration, cancel: &Receiver<()>) -> Lease {
        match self.lane.standing() {
            Some((session, generation)) => Lease::Go {
                session,
                generation,
            },
            None => self.ask(Ask::Admit, wait, cancel),
        }
    }

    /// A fresh session in place of `generation`.
    pub fn renew(&self, generation: Generation, wait: Duration, cancel: &Receiver<()>) -> Lease {
        self.ask(Ask::Renew(generation), wait, cancel)
    }

    pub fn report(&self, generation: Generation, report: Report) {
        let failure = is_failure(report);
        if failure {
            self.lane.failure_reported();
        }
        // A driver that is gone has nothing left to learn.
        if self
            .asks
            .send(super::driver::Command::Report { generation, report })
            .is_err()
            && failure
        {
            self.lane.failure_handled();
        }
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn ask(&self, ask: Ask, wait: Duration, cancel: &Receiver<()>) -> Lease {
        let (reply, answer) = bounded(1);
        if self
            .asks
            .send(super::driver::Command::Ask { ask, reply })
            .is_err()
        {
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

/// Where the driver sends a lease; a reply nobody waits for any more is
/// simply dropped.
pub(crate) fn send(reply: Sender<Lease>, lease: Lease) {
    let _ = reply.send(lease);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::breaker::FailureClass;
    use crossbeam_channel::never;
    use serde_json::Value;

    struct Idle(Value);

    impl Session for Idle {
        fn request(
            &self,
            _: &str,
            _: Value,
            _: Duration,
            _: &Receiver<()>,
        ) -> Result<Value, CallError> {
            Err(CallError::Closed)
        }
        fn notify(&self, _: &str, _: Value) -> Result<(), CallError> {
            Ok(())
        }
        fn events(&self) -> Receiver<Value> {
            never()
        }
        fn closed(&self) -> Receiver<()> {
            never()
        }
        fn info(&self) -> &Value {
            &self.0
        }
        fn close(&self) {}
        fn stderr_tail(&self) -> Vec<String> {
            Vec::new()
        }
    }

    #[test]
    fn a_failure_report_withdraws_the_standing_answer_until_the_driver_has_seen_it() {
        let lane = FastLane::default();
        let session: Arc<dyn Session> = Arc::new(Idle(Value::Null));
        lane.set(Some((session.clone(), 1)));
        assert!(lane.standing().is_some());
        lane.failure_reported();
        assert!(
            lane.standing().is_none(),
            "the next call must ask the driver"
        );
        // The driver finishes an older step and publishes before it reads
        // the report: the answer stays withdrawn.
        lane.set(Some((session.clone(), 1)));
        assert!(lane.standing().is_none());
        lane.failure_handled();
        lane.set(Some((session, 1)));
        assert!(lane.standing().is_some());
    }

    #[test]
    fn only_real_failures_hold_the_lane() {
        assert!(!is_failure(Report::Success));
        assert!(!is_failure(Report::Failure(FailureClass::ToolError)));
        assert!(!is_failure(Report::Failure(FailureClass::Cancelled)));
        assert!(is_failure(Report::Failure(FailureClass::Timeout)));
        assert!(is_failure(Report::Auth(401)));
    }
}

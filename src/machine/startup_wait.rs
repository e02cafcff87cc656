//! The start-up wait (gateway.md §5): a client that lists once, right after
//! `initialize`, should see every upstream that can come up. So the first
//! lists wait while some enabled upstream has not yet made its first
//! connect attempt, for at most the configured wait. Once over, it is over
//! for good: later lists never wait, even for an upstream that restarts.
//!
//! Table: `spec/startup_wait.table`.

use std::time::{Duration, Instant};

/// Beyond this a client would give up anyway; a longer configured wait is
/// cut to it.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// A list asks whether it must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    /// Some enabled upstream has not made its first connect attempt yet
    /// (neither listed, nor failed, nor left the closed state).
    pub untried: bool,
}

/// The answer to one ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Look again shortly.
    Wait,
    /// Answer the list now; `Some` when this ask ended the wait, and why.
    Go(Option<Ended>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every enabled upstream has made its first attempt.
    AllTried,
    /// The wait ran out.
    WaitOver,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupWait {
    /// `None` once the wait is over.
    deadline: Option<Instant>,
}

impl StartupWait {
    /// Created with the gateway: the wait runs from `now`.
    pub fn new(now: Instant, wait: Duration) -> StartupWait {
        StartupWait {
            deadline: Some(super::later(now, wait.min(MAX_WAIT))),
        }
    }

    pub fn handle(&mut self, ask: Ask, now: Instant) -> Answer {
        let Some(deadline) = self.deadline else {
            return Answer::Go(None);
        };
        let ended = if now >= deadline {
            Ended::WaitOver
        } else if !ask.untried {
            Ended::AllTried
        } else {
            return Answer::Wait;
        };
        self.deadline = None;
        Answer::Go(Some(ended))
    }

    /// Until when the lists wait at most; `None` once the wait is over.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn is_over(&self) -> bool {
        self.deadline.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::epoch;

    const UNTRIED: Ask = Ask { untried: true };

    #[test]
    fn a_zero_wait_is_over_at_the_first_ask() {
        let t0 = epoch();
        let mut wait = StartupWait::new(t0, Duration::ZERO);
        assert_eq!(wait.handle(UNTRIED, t0), Answer::Go(Some(Ended::WaitOver)));
        assert!(wait.is_over());
    }

    #[test]
    fn a_longer_wait_than_the_maximum_is_cut_to_it() {
        let t0 = epoch();
        let mut wait = StartupWait::new(t0, Duration::from_secs(100_000));
        assert_eq!(wait.deadline(), Some(t0 + MAX_WAIT));
        let just_before = t0 + MAX_WAIT - Duration::from_millis(1);
        assert_eq!(wait.handle(UNTRIED, just_before), Answer::Wait);
        assert_eq!(
            wait.handle(UNTRIED, t0 + MAX_WAIT),
            Answer::Go(Some(Ended::WaitOver))
        );
    }

    #[test]
    fn an_unrepresentable_wait_does_not_panic() {
        let t0 = epoch();
        let mut wait = StartupWait::new(t0, Duration::MAX);
        assert_eq!(wait.handle(UNTRIED, t0), Answer::Wait);
    }
}

//! What the agent sees of one proxied call's progress (mcp-server.md §1,
//! gateway.md §5a): values that strictly increase (a replayed call starting
//! again at 1 is not passed on until it passes what was already reported),
//! at most [`RATE`] notes per second after a burst of [`BURST`]; a note held
//! back by that limit is replaced by newer ones, and the latest is sent
//! before the call's result.
//!
//! Table: `spec/progress.table`.

use std::time::Instant;

/// Notes per second per call, in the long run.
pub const RATE: f64 = 10.0;
/// Notes that may go out at once before the rate applies.
pub const BURST: f64 = 10.0;

/// What to do with one progress note of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it now; a note held before is dropped (this one is newer).
    Send,
    /// Keep it instead of any note held before, for the next send or the
    /// flush before the result.
    Hold,
    /// Not above what was already accepted: drop it.
    Stale,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProgressGate {
    /// The last value accepted.
    last: Option<f64>,
    /// Notes that may go out now (a token bucket).
    allowance: f64,
    refilled: Instant,
    /// A note is held back by the rate.
    held: bool,
}

impl ProgressGate {
    /// The call starts `now` with a full burst.
    pub fn new(now: Instant) -> ProgressGate {
        ProgressGate {
            last: None,
            allowance: BURST,
            refilled: now,
            held: false,
        }
    }

    pub fn offer(&mut self, progress: f64, now: Instant) -> Verdict {
        if self.last.is_some_and(|last| progress <= last) {
            return Verdict::Stale;
        }
        self.last = Some(progress);
        self.allowance = self.allowance_at(now);
        self.refilled = now;
        if self.allowance >= 1.0 {
            self.allowance -= 1.0;
            self.held = false;
            Verdict::Send
        } else {
            self.held = true;
            Verdict::Hold
        }
    }

    /// The call's result is about to go out: whether the held note must go
    /// first. Once only.
    pub fn flush(&mut self) -> bool {
        std::mem::take(&mut self.held)
    }

    pub fn last(&self) -> Option<f64> {
        self.last
    }

    /// Notes that may go out at `now`.
    pub fn allowance_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        (self.allowance + elapsed * RATE).min(BURST)
    }

    pub fn held(&self) -> bool {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::epoch;
    use std::time::Duration;

    #[test]
    fn a_value_that_is_not_a_number_is_passed_on_and_never_blocks_later_ones() {
        let t0 = epoch();
        let mut gate = ProgressGate::new(t0);
        assert_eq!(gate.offer(f64::NAN, t0), Verdict::Send);
        assert_eq!(gate.offer(1.0, t0), Verdict::Send);
    }

    #[test]
    fn a_clock_that_goes_back_refills_nothing() {
        let t0 = epoch() + Duration::from_secs(5);
        let mut gate = ProgressGate::new(t0);
        for n in 1..=10 {
            assert_eq!(gate.offer(f64::from(n), t0), Verdict::Send);
        }
        let earlier = t0 - Duration::from_secs(3);
        assert_eq!(gate.offer(11.0, earlier), Verdict::Hold);
    }
}

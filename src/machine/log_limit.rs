//! Keeps a misbehaving server from flooding our log: one line per window
//! for each kind of trouble, with a count of what was left out.
//!
//! Table: `spec/log_limit.table`.

use std::time::{Duration, Instant};

/// One warning per kind of trouble per this long.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub fn new() -> Self {
        RateLimit::default()
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were left
    /// out since the last one; `None` to stay quiet.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < WINDOW => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// When the last line was logged; `None` before the first.
    pub fn last(&self) -> Option<Instant> {
        self.last
    }

    /// Lines left out since the last one logged.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::epoch;

    #[test]
    fn one_line_per_window_with_the_count_of_the_rest() {
        let start = epoch();
        let mut limit = RateLimit::new();
        assert_eq!(limit.allow(start), Some(0));
        assert_eq!(limit.allow(start + Duration::from_secs(1)), None);
        assert_eq!(limit.allow(start + Duration::from_secs(2)), None);
        assert_eq!(limit.allow(start + WINDOW), Some(2));
    }

    #[test]
    fn a_clock_that_goes_back_keeps_the_window_closed() {
        let start = epoch() + Duration::from_secs(5);
        let mut limit = RateLimit::new();
        assert_eq!(limit.allow(start), Some(0));
        assert_eq!(limit.allow(start - Duration::from_secs(3)), None);
    }
}

//! Keeps a misbehaving server from flooding our log: one line per window for
//! each kind of trouble, with a count of what was left out.

use std::time::{Duration, Instant};

/// One warning per kind of trouble per this long.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
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
}

/// " (N similar left out)" or nothing.
pub fn left_out(count: u64) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(" ({count} similar left out)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_with_the_count_of_the_rest() {
        let start = Instant::now();
        let mut limit = RateLimit::new();
        assert_eq!(limit.allow(start), Some(0));
        assert_eq!(limit.allow(start + Duration::from_secs(1)), None);
        assert_eq!(limit.allow(start + Duration::from_secs(2)), None);
        assert_eq!(limit.allow(start + WINDOW), Some(2));
        assert_eq!(left_out(2), " (2 similar left out)");
        assert_eq!(left_out(0), "");
    }
}

//! The log limit for a misbehaving server as `spec/log_limit.table` writes
//! it.

use super::check::{secs, Clock, Model};
use molecule_mcp::machine::log_limit::{RateLimit, WINDOW};

pub struct LogLimit;

impl Model for LogLimit {
    type Machine = RateLimit;

    fn fresh(&self) -> RateLimit {
        RateLimit::new()
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "open",
            "logged left=10s skipped=0",
            "logged left=10s skipped=2",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &["trouble", "trouble at window end"]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        // Before the first line there is no window to end.
        &[("open", "trouble at window end")]
    }

    fn apply(
        &self,
        limit: &mut RateLimit,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let words: Vec<&str> = event.split(' ').collect();
        match words.as_slice() {
            ["trouble"] => {}
            ["trouble", "at", "window", "end"] => {
                clock.jump_to(limit.last().map(|last| last + WINDOW))?;
            }
            ["wait", amount] => {
                clock.wait(amount)?;
                return Ok(Vec::new());
            }
            _ => return Err(format!("unknown log limit event {event:?}")),
        }
        Ok(match limit.allow(clock.now) {
            None => Vec::new(),
            Some(0) => vec!["Log".into()],
            Some(n) => vec![format!("Log({n} left out)")],
        })
    }

    fn render(&self, limit: &RateLimit, clock: &Clock) -> String {
        let Some(last) = limit.last() else {
            return "open".into();
        };
        let end = last + WINDOW;
        let left = if end >= clock.now {
            secs(end - clock.now)
        } else {
            format!("-{}", secs(clock.now - end))
        };
        format!("logged left={left} skipped={}", limit.suppressed())
    }
}

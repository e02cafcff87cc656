//! Drains a stdio server's stderr into our log (debug level) and keeps its
//! last lines to quote when the server dies. A server whose stderr is never
//! read blocks once the pipe fills, so this runs from the start.

use std::collections::VecDeque;
use std::io::{BufReader, Read};
use std::sync::Mutex;

use crate::lines::{Line, LineReader};

/// Lines kept for the log line when the server dies.
pub const KEPT_LINES: usize = 20;
/// Longer lines are shortened to this many characters.
const KEPT_CHARS: usize = 500;
/// Longer lines are not even read into memory.
const MAX_READ: usize = 64 * 1024;

#[derive(Default)]
pub struct StderrTail {
    lines: Mutex<VecDeque<String>>,
}

impl StderrTail {
    pub fn new() -> Self {
        StderrTail::default()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    fn push(&self, line: String) {
        let mut lines = self.lock();
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `stderr` until it closes.
    pub fn drain(&self, name: &str, stderr: impl Read) {
        let mut lines = LineReader::new(BufReader::new(stderr), MAX_READ);
        while let Ok(Some(line)) = lines.next_line() {
            let text = match line {
                Line::Complete(bytes) => {
                    crate::redact::clip(&String::from_utf8_lossy(&bytes), KEPT_CHARS)
                }
                Line::TooLong { length } => format!("[a line of {length} bytes, not kept]"),
            };
            log::debug!("{name} stderr: {text}");
            self.push(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_redacted() {
        let tail = StderrTail::new();
        let mut input = String::new();
        for n in 0..30 {
            input.push_str(&format!("line {n}\n"));
        }
        input.push_str("Authorization: Bearer abcdefghijklmnopqrstu\n");
        tail.drain("t", input.as_bytes());
        let lines = tail.lines();
        assert_eq!(lines.len(), KEPT_LINES);
        assert_eq!(lines[0], "line 11");
        let last = &lines[KEPT_LINES - 1];
        assert!(!last.contains("abcdefghijklmnopqrstu"), "{last}");
    }
}

//! Drains a stdio server's stderr into our log (debug level) and keeps its
//! last lines to quote when the server dies. A server whose stderr is never
//! read blocks once the pipe fills, so this runs from the start.

use std::collections::VecDeque;
use std::io::{BufReader, Read};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::lines::{Line, LineReader};
use crate::sync::{lock, wait_while};

/// Lines kept for the log line when the server dies.
pub const KEPT_LINES: usize = 20;
/// Longer lines are shortened to this many characters.
const KEPT_CHARS: usize = 500;
/// Longer lines are not even read into memory.
const MAX_READ: usize = 64 * 1024;

#[derive(Default)]
pub struct StderrTail {
    lines: Mutex<Kept>,
    /// Signalled when the drain reaches the end of stderr.
    ended: Condvar,
}

#[derive(Default)]
struct Kept {
    lines: VecDeque<String>,
    ended: bool,
}

impl StderrTail {
    pub fn new() -> Self {
        StderrTail::default()
    }

    #[cfg(test)]
    pub fn lines(&self) -> Vec<String> {
        lock(&self.lines).lines.iter().cloned().collect()
    }

    /// The last lines of a server whose process ended: its last words may
    /// still be in the pipe when its stdout closes (two threads read the
    /// two pipes), so this waits up to `wait` for stderr to close too.
    pub fn last_words(&self, wait: Duration) -> Vec<String> {
        let kept = wait_while(&self.ended, lock(&self.lines), wait, |k| !k.ended);
        kept.lines.iter().cloned().collect()
    }

    fn push(&self, line: String) {
        let mut kept = lock(&self.lines);
        if kept.lines.len() == KEPT_LINES {
            kept.lines.pop_front();
        }
        kept.lines.push_back(line);
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
        lock(&self.lines).ended = true;
        self.ended.notify_all();
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

    #[test]
    fn last_words_wait_for_the_end_of_stderr() {
        let tail = std::sync::Arc::new(StderrTail::new());
        let (mut writer, reader) = std::os::unix::net::UnixStream::pair().expect("pair");
        let drain = {
            let tail = tail.clone();
            std::thread::spawn(move || tail.drain("t", reader))
        };
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::io::Write::write_all(&mut writer, b"fatal: no config\n").expect("write");
        });
        let words = tail.last_words(Duration::from_secs(10));
        assert_eq!(words, vec!["fatal: no config".to_string()]);
        late.join().expect("writer");
        drain.join().expect("drain");
    }
}

//! Logging to stderr, every line redacted.
//!
//! stdout carries the MCP protocol, so logs must never go there (simplelog's
//! terminal and simple loggers default to stdout). Each complete line passes
//! through [`redact::redact`] before it is written, so a secret that slips
//! into a log argument still never reaches the operator's terminal.

use std::io::{self, Write};

use log::{Level, LevelFilter, Log, Metadata, Record};
use simplelog::{ConfigBuilder, WriteLogger};

use crate::redact;

/// Dependencies whose info and debug output would drown ours.
const NOISY_TARGETS: [&str; 2] = ["ureq", "rustls"];

/// A line longer than this is written out even without its newline, so one
/// runaway message cannot hold memory.
const MAX_PENDING: usize = 64 * 1024;
/// What is left out before the cut of an over-long line: longer than any
/// token, so no secret can show its first part at the cut.
const CUT_MARGIN: usize = 4096;

/// Installs the logger: warnings and errors, plus info when `verbose`.
/// A second call changes nothing.
pub fn init(verbose: bool) {
    let level = if verbose {
        LevelFilter::Info
    } else {
        LevelFilter::Warn
    };
    let config = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_thread_level(LevelFilter::Off)
        .set_target_level(LevelFilter::Off)
        .build();
    let inner = WriteLogger::new(level, config, RedactingLines::new(io::stderr()));
    if log::set_boxed_logger(Box::new(QuietDependencies { inner })).is_ok() {
        log::set_max_level(level);
    }
}

struct QuietDependencies<L> {
    inner: L,
}

impl<L: Log> Log for QuietDependencies<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let noisy = NOISY_TARGETS
            .iter()
            .any(|t| metadata.target().starts_with(t));
        if noisy && metadata.level() > Level::Warn {
            return false;
        }
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Collects bytes until a newline, then writes the redacted line. A line is
/// only ever redacted whole, so a secret cannot escape by being split across
/// the several writes one log record is made of.
pub struct RedactingLines<W: Write> {
    out: W,
    pending: Vec<u8>,
    /// The rest of an over-long line is being dropped.
    skipping: bool,
}

impl<W: Write> RedactingLines<W> {
    pub fn new(out: W) -> Self {
        RedactingLines {
            out,
            pending: Vec::new(),
            skipping: false,
        }
    }

    fn emit(&mut self, line: &[u8]) {
        let text = redact::redact(&String::from_utf8_lossy(line));
        // Nowhere to report a failing stderr; logging must not stop the work.
        let _ = self.out.write_all(text.as_bytes());
    }
}

impl<W: Write> Write for RedactingLines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        if self.skipping {
            match rest.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.skipping = false;
                    rest = &rest[end + 1..];
                }
                None => return Ok(buf.len()),
            }
        }
        self.pending.extend_from_slice(rest);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line);
        }
        if self.pending.len() > MAX_PENDING {
            // Redacting a line in pieces could split a secret across two
            // pieces and miss it: keep the start of the line, redact it
            // whole, and leave out a margin at the cut (a secret that
            // straddles the cut would otherwise show its beginning).
            let mut line = std::mem::take(&mut self.pending);
            line.truncate(MAX_PENDING - CUT_MARGIN);
            line.extend_from_slice(b" ... [line too long, cut]\n");
            self.emit(&line);
            self.skipping = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // The partial line stays pending: every record ends with a newline.
        let _ = self.out.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_redacted_whole_even_when_written_in_pieces() {
        let mut writer = RedactingLines::new(Vec::new());
        for piece in [
            "WARN heartbeat: Authorization: Be",
            "arer abc",
            "def\nsecond line\npart",
        ] {
            writer.write_all(piece.as_bytes()).unwrap();
        }
        assert_eq!(
            String::from_utf8(writer.out.clone()).unwrap(),
            "WARN heartbeat: Authorization: [redacted]\nsecond line\n"
        );
        writer.write_all(b" done\n").unwrap();
        assert!(String::from_utf8(writer.out)
            .unwrap()
            .ends_with("second line\npart done\n"));
    }

    #[test]
    fn a_runaway_line_is_cut_whole_and_a_secret_at_the_cut_never_shows() {
        crate::redact::register_secret("q7Zr4mW9xK2pL8vN3bT6");
        let mut writer = RedactingLines::new(Vec::new());
        // The secret straddles the point where the line is cut.
        let mut line = vec![b'x'; MAX_PENDING - CUT_MARGIN / 2 - 10];
        line.extend_from_slice(b"q7Zr4mW9xK2pL8vN3bT6");
        line.extend(vec![b'y'; CUT_MARGIN]);
        writer.write_all(&line).unwrap();
        writer
            .write_all(b"more of the same line\nnext line\n")
            .unwrap();
        let out = String::from_utf8(writer.out).unwrap();
        assert!(!out.contains("q7Zr4m"), "the start of the secret leaked");
        assert!(
            !out.contains("more of the same"),
            "the rest of the line was kept"
        );
        assert!(
            out.ends_with("[line too long, cut]\nnext line\n"),
            "{}",
            &out[out.len() - 80..]
        );
        assert!(writer.pending.is_empty());
    }

    #[test]
    fn dependency_chatter_below_warn_is_dropped() {
        struct Everything;
        impl Log for Everything {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn log(&self, _: &Record<'_>) {}
            fn flush(&self) {}
        }
        let logger = QuietDependencies { inner: Everything };
        let meta =
            |target: &'static str, level| Metadata::builder().target(target).level(level).build();
        assert!(!logger.enabled(&meta("ureq::unversioned", Level::Info)));
        assert!(!logger.enabled(&meta("rustls::client", Level::Debug)));
        assert!(logger.enabled(&meta("ureq::pool", Level::Warn)));
        assert!(logger.enabled(&meta("molecule_mcp::platform", Level::Info)));
    }

    #[test]
    fn init_twice_is_harmless() {
        init(false);
        init(true);
        log::warn!("logging initialised twice in a test");
    }
}

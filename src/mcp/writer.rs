//! The one thread that owns the output: writes each line whole, then flushes,
//! so answers and notifications from many threads never interleave.

use super::outbox::Outgoing;
use crossbeam_channel::{bounded, select, Receiver, Sender};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::{self, JoinHandle};

/// Notifications held before `initialize` is answered; older ones are dropped
/// beyond this (pushed messages stay in the inbox, so nothing is lost for good).
const HELD_MAX: usize = 256;

pub(crate) struct Writer {
    stop: Option<Sender<()>>,
    /// Ready (disconnected) once the thread has ended, for whatever reason.
    pub(crate) ended: Receiver<()>,
    thread: JoinHandle<bool>,
}

impl Writer {
    pub(crate) fn spawn<W: Write + Send + 'static>(
        output: W,
        lines: Receiver<Outgoing>,
    ) -> io::Result<Writer> {
        let (stop, stop_rx) = bounded::<()>(0);
        let (ended_tx, ended) = bounded::<()>(0);
        let thread = thread::Builder::new()
            .name("mcp-writer".into())
            // Writes finished lines; nothing recurses.
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ended = ended_tx;
                write_lines(output, &lines, &stop_rx)
            })?;
        Ok(Writer {
            stop: Some(stop),
            ended,
            thread,
        })
    }

    /// Asks the thread to write what is queued and end; does not wait.
    pub(crate) fn stop(&mut self) {
        self.stop.take();
    }

    /// Whether the thread ended having written everything it was given.
    /// Call only once `ended` is ready, or it waits for the thread.
    pub(crate) fn join(self) -> bool {
        self.thread.join().unwrap_or(false)
    }
}

/// Returns false when the output failed; true when stopped with all written.
fn write_lines<W: Write>(mut output: W, lines: &Receiver<Outgoing>, stop: &Receiver<()>) -> bool {
    let mut gate = Gate::default();
    let written = loop {
        select! {
            recv(lines) -> line => match line {
                Ok(line) => {
                    if let Err(e) = gate.write(&mut output, line) {
                        break Err(e);
                    }
                }
                Err(_) => break Ok(()),
            },
            recv(stop) -> _ => break lines.try_iter().try_for_each(|line| gate.write(&mut output, line)),
        }
    };
    if !gate.held.is_empty() {
        log::debug!(
            "{} notifications were never sent: the client did not initialize",
            gate.held.len()
        );
    }
    match written {
        Ok(()) => true,
        Err(e) => {
            log::warn!("cannot write to the client any more ({e}); shutting down");
            false
        }
    }
}

#[derive(Default)]
struct Gate {
    open: bool,
    held: VecDeque<String>,
}

impl Gate {
    fn write<W: Write>(&mut self, output: &mut W, line: Outgoing) -> io::Result<()> {
        match line {
            Outgoing::Answer(line) => write_line(output, line),
            Outgoing::InitializeAnswer(line) => {
                write_line(output, line)?;
                self.open = true;
                self.held
                    .drain(..)
                    .try_for_each(|held| write_line(output, held))
            }
            Outgoing::Notification(line) if self.open => write_line(output, line),
            Outgoing::Notification(line) => {
                if self.held.len() == HELD_MAX {
                    self.held.pop_front();
                }
                self.held.push_back(line);
                Ok(())
            }
        }
    }
}

fn write_line<W: Write>(output: &mut W, line: String) -> io::Result<()> {
    // Every secret we hold is masked in everything the agent gets, an
    // upstream's results and errors included (an upstream may echo the
    // credential we sent it).
    let mut line = crate::redact::mask_known(&line);
    line.push('\n');
    output.write_all(line.as_bytes())?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::outbox::Outbox;
    use crossbeam_channel::RecvTimeoutError;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn stop_and_collect(mut writer: Writer, output: &Shared) -> (bool, String) {
        writer.stop();
        assert_eq!(
            writer.ended.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected),
            "writer did not end"
        );
        let ok = writer.join();
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        (ok, text)
    }

    #[test]
    fn holds_notifications_until_initialize_is_answered() {
        let output = Shared::default();
        let (outbox, rx) = Outbox::channel();
        assert!(outbox.notify("early", Value::Null));
        assert!(outbox.send(Outgoing::Answer("A".into())));
        assert!(outbox.send(Outgoing::InitializeAnswer("I".into())));
        assert!(outbox.notify("late", Value::Null));
        let writer = Writer::spawn(output.clone(), rx).unwrap();
        let (ok, text) = stop_and_collect(writer, &output);
        assert!(ok);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(&lines[..2], &["A", "I"]);
        assert!(
            lines[2].contains("\"early\"") && lines[3].contains("\"late\""),
            "{text}"
        );
    }

    #[test]
    fn never_sends_notifications_to_a_client_that_did_not_initialize() {
        let output = Shared::default();
        let (outbox, rx) = Outbox::channel();
        // Running already: more notifications than the outbox holds.
        let writer = Writer::spawn(output.clone(), rx).unwrap();
        for _ in 0..HELD_MAX + 10 {
            assert!(outbox.notify("early", Value::Null));
        }
        assert!(outbox.send(Outgoing::Answer("A".into())));
        assert_eq!(stop_and_collect(writer, &output), (true, "A\n".to_string()));
    }

    #[test]
    fn ends_when_the_output_fails() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (outbox, rx) = Outbox::channel();
        let writer = Writer::spawn(Broken, rx).unwrap();
        assert!(outbox.send(Outgoing::Answer("A".into())));
        assert_eq!(
            writer.ended.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected),
            "writer did not end"
        );
        assert!(!writer.join());
        assert!(
            !outbox.send(Outgoing::Answer("B".into())),
            "the channel outlived the writer"
        );
    }
}

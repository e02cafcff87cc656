//! The way into the single writer that owns the output: answers from the
//! server, notifications from anyone (push, list changes, progress).

use super::jsonrpc::notification_line;
use crossbeam_channel::{
    bounded, select, Receiver, SendTimeoutError, Sender, TryRecvError, TrySendError,
};
use serde_json::Value;
use std::time::Duration;

/// How many lines may wait for the writer before senders wait. The writer
/// drains the queue as fast as the host reads, so this only covers bursts;
/// the channel allocates and writes every slot up front (40 bytes each),
/// so 1 024 slots cost 40 KiB of private memory per instance, 128 cost 5.
const CAPACITY: usize = 128;
/// How long a notification waits for room before it is dropped: a host that
/// stopped reading must not stall a poller or a tool forever.
const NOTIFY_WAIT: Duration = Duration::from_secs(1);

/// One line for the writer (without its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An answer to a request.
    Answer(String),
    /// The answer to `initialize`: from here on notifications may go out.
    InitializeAnswer(String),
    /// A notification; held back until the client has its `initialize` answer.
    Notification(String),
}

impl Outgoing {
    pub fn line(&self) -> &str {
        match self {
            Outgoing::Answer(line)
            | Outgoing::InitializeAnswer(line)
            | Outgoing::Notification(line) => line,
        }
    }
}

/// A cloneable handle for sending lines to the client. Sending never blocks
/// forever: once the writer is gone every send fails at once.
#[derive(Clone)]
pub struct Outbox {
    tx: Sender<Outgoing>,
}

impl Outbox {
    /// A new outbox and the receiving end its writer reads (the server's
    /// writer thread, or a test).
    pub fn channel() -> (Outbox, Receiver<Outgoing>) {
        let (tx, rx) = bounded(CAPACITY);
        (Outbox { tx }, rx)
    }

    /// Queues a JSON-RPC notification (`Null` params are left out). Returns
    /// false when it was dropped: the writer is gone, or stayed full too long.
    pub fn notify(&self, method: &str, params: Value) -> bool {
        let line = Outgoing::Notification(notification_line(method, params));
        match self.tx.send_timeout(line, NOTIFY_WAIT) {
            Ok(()) => true,
            Err(SendTimeoutError::Timeout(_)) => {
                log::warn!(
                    "dropped a {method:.80} notification: the client is not reading its input"
                );
                false
            }
            Err(SendTimeoutError::Disconnected(_)) => {
                log::debug!("dropped a {method:.80} notification: the server has stopped");
                false
            }
        }
    }

    /// Queues a request of ours to the client (relayed for an upstream).
    /// Like a notification it waits for the `initialize` answer, and for
    /// room at most as long; false when it was not queued.
    pub fn request(&self, line: String) -> bool {
        self.tx
            .send_timeout(Outgoing::Notification(line), NOTIFY_WAIT)
            .is_ok()
    }

    /// Queues a line, waiting for room as long as it takes; false once the writer is gone.
    pub(crate) fn send(&self, line: Outgoing) -> bool {
        self.tx.send(line).is_ok()
    }

    /// Queues a line unless `stop` fires first while waiting for room.
    pub(crate) fn send_unless(&self, line: Outgoing, stop: &Receiver<()>) -> bool {
        let line = match self.tx.try_send(line) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(line)) => line,
        };
        select! {
            send(self.tx, line) -> sent => sent.is_ok(),
            recv(stop) -> _ => false,
        }
    }
}

/// While a line waits for room, how often the sender looks at whether it
/// should give up.
const GIVE_UP_CHECK: Duration = Duration::from_millis(50);

impl Outbox {
    /// Queues a line unless `stop` fires or `give_up` says so while waiting
    /// for room; `give_up` is asked every 50 ms of waiting.
    pub(crate) fn send_unless_either(
        &self,
        line: Outgoing,
        stop: &Receiver<()>,
        give_up: &dyn Fn() -> bool,
    ) -> bool {
        let mut line = line;
        loop {
            match self.tx.send_timeout(line, GIVE_UP_CHECK) {
                Ok(()) => return true,
                Err(SendTimeoutError::Disconnected(_)) => return false,
                Err(SendTimeoutError::Timeout(back)) => {
                    let stopped = !matches!(stop.try_recv(), Err(TryRecvError::Empty));
                    if stopped || give_up() {
                        return false;
                    }
                    line = back;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    #[test]
    fn notify_queues_a_notification_line() {
        let (outbox, rx) = Outbox::channel();
        assert!(outbox.notify("notifications/tools/list_changed", Value::Null));
        assert!(outbox.notify("n", json!({"a": 1})));
        assert_eq!(
            rx.try_recv().unwrap(),
            Outgoing::Notification(
                r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#.into()
            )
        );
        let second: Value = serde_json::from_str(rx.try_recv().unwrap().line()).unwrap();
        assert_eq!(
            second,
            json!({"jsonrpc": "2.0", "method": "n", "params": {"a": 1}})
        );
    }

    #[test]
    fn notify_fails_at_once_when_the_writer_is_gone() {
        let (outbox, rx) = Outbox::channel();
        drop(rx);
        let started = Instant::now();
        assert!(!outbox.notify("n", Value::Null));
        assert!(started.elapsed() < NOTIFY_WAIT);
    }

    #[test]
    fn notify_gives_up_when_the_writer_stays_full() {
        let (outbox, _rx) = Outbox::channel();
        for _ in 0..CAPACITY {
            assert!(outbox.send(Outgoing::Answer("{}".into())));
        }
        let started = Instant::now();
        assert!(!outbox.notify("n", Value::Null));
        let waited = started.elapsed();
        assert!(
            waited >= NOTIFY_WAIT / 2 && waited < NOTIFY_WAIT * 10,
            "{waited:?}"
        );
    }

    #[test]
    fn send_unless_gives_up_when_stopped_while_full() {
        let (outbox, _rx) = Outbox::channel();
        for _ in 0..CAPACITY {
            assert!(outbox.send(Outgoing::Answer("{}".into())));
        }
        let (stop_tx, stop) = bounded::<()>(0);
        drop(stop_tx);
        assert!(!outbox.send_unless(Outgoing::Answer("{}".into()), &stop));
    }

    #[test]
    fn send_unless_either_gives_up_when_asked_while_full() {
        let (outbox, rx) = Outbox::channel();
        for _ in 0..CAPACITY {
            assert!(outbox.send(Outgoing::Answer("{}".into())));
        }
        let (_stop_tx, stop) = bounded::<()>(0);
        let asked = std::cell::Cell::new(0);
        let give_up = || {
            asked.set(asked.get() + 1);
            asked.get() >= 2
        };
        assert!(!outbox.send_unless_either(Outgoing::Answer("{}".into()), &stop, &give_up));
        assert_eq!(asked.get(), 2);
        // With room, the line goes out and nobody is asked.
        let _ = rx.try_recv();
        assert!(outbox.send_unless_either(Outgoing::Answer("{}".into()), &stop, &|| true));
    }
}

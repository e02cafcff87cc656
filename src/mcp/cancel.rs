//! A request's cancellation: a flag to poll and a channel to `select!` on.

use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use crate::sync::lock;

/// Why a request was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The client sent `notifications/cancelled`: it wants no answer.
    Client,
    /// The server is shutting down: an answer given quickly still goes out.
    Shutdown,
}

/// Shared by the server (which cancels) and the request's `CallContext`
/// (which watches). Cloning shares the same cancellation.
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

struct Inner {
    reason: OnceLock<CancelReason>,
    // Dropping the only sender disconnects `signal`, which wakes every
    // `select!` waiting on it at once and stays ready for later ones.
    wake: Mutex<Option<Sender<()>>>,
    signal: Receiver<()>,
}

impl CancelToken {
    pub fn new() -> Self {
        let (wake, signal) = bounded(0);
        CancelToken {
            inner: Arc::new(Inner {
                reason: OnceLock::new(),
                wake: Mutex::new(Some(wake)),
                signal,
            }),
        }
    }

    /// Cancels; the first reason given sticks. Returns whether this call cancelled.
    pub fn cancel(&self, reason: CancelReason) -> bool {
        if self.inner.reason.set(reason).is_err() {
            return false;
        }
        let mut wake = lock(&self.inner.wake);
        wake.take();
        true
    }

    pub fn reason(&self) -> Option<CancelReason> {
        self.inner.reason.get().copied()
    }

    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }

    /// Ready (disconnected) once cancelled; nothing is ever sent on it.
    pub fn signal(&self) -> &Receiver<()> {
        &self.inner.signal
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{select, RecvTimeoutError};
    use std::time::Duration;

    #[test]
    fn cancel_wakes_a_waiting_select_and_the_first_reason_sticks() {
        let token = CancelToken::new();
        assert!(!token.is_cancelled());
        assert_eq!(
            token.signal().recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        );

        let watcher = token.clone();
        let waiter = std::thread::spawn(move || {
            select! {
                recv(watcher.signal()) -> _ => watcher.reason(),
                default(Duration::from_secs(10)) => None,
            }
        });
        assert!(token.cancel(CancelReason::Client));
        assert!(!token.cancel(CancelReason::Shutdown));
        assert_eq!(waiter.join().unwrap(), Some(CancelReason::Client));
        assert_eq!(token.reason(), Some(CancelReason::Client));
        // Stays ready for anyone who looks later.
        assert_eq!(
            token.signal().recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Disconnected)
        );
    }
}

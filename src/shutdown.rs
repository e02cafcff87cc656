//! One broadcast that reaches every loop: a channel that is never sent on and
//! closes when shutdown starts, so `select!` on it wakes every waiter at once.

use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::sync::lock;

/// The trigger side; cloneable, and the first `trigger` wins.
#[derive(Clone)]
pub struct Shutdown {
    sender: Arc<Mutex<Option<Sender<()>>>>,
    receiver: Receiver<()>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = bounded(0);
        Shutdown {
            sender: Arc::new(Mutex::new(Some(tx))),
            receiver: rx,
        }
    }

    /// Starts shutdown; idempotent.
    pub fn trigger(&self) {
        lock(&self.sender).take();
    }

    /// A receiver that becomes ready (disconnected) once shutdown starts.
    pub fn signal(&self) -> Receiver<()> {
        self.receiver.clone()
    }

    pub fn is_triggered(&self) -> bool {
        lock(&self.sender).is_none()
    }
}

/// Triggers `shutdown` on SIGTERM or SIGINT (a host stopping us must get the
/// same orderly end as stdin EOF).
pub fn on_signals(shutdown: Shutdown) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(mut signals) => {
            let spawned = std::thread::Builder::new()
                .name("signals".into())
                // It waits, then logs one line.
                .stack_size(64 * 1024)
                .spawn(move || {
                    if let Some(sig) = signals.forever().next() {
                        log::info!("signal {sig} received: shutting down");
                        shutdown.trigger();
                    }
                });
            if let Err(e) = spawned {
                log::warn!("could not start the signal thread: {e}");
            }
        }
        Err(e) => log::warn!("could not install signal handlers: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn trigger_wakes_every_receiver() {
        let s = Shutdown::new();
        let a = s.signal();
        let b = s.clone().signal();
        assert!(a
            .recv_timeout(Duration::from_millis(10))
            .is_err_and(|e| e.is_timeout()));
        s.trigger();
        s.trigger();
        assert!(a
            .recv_timeout(Duration::from_millis(100))
            .is_err_and(|e| e.is_disconnected()));
        assert!(b
            .recv_timeout(Duration::from_millis(100))
            .is_err_and(|e| e.is_disconnected()));
        assert!(s.is_triggered());
    }
}

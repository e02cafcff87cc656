//! Helper threads: the bounded wait for threads at shutdown, and blocking
//! calls run on a thread of their own so that the caller can give up on
//! them (ureq cannot be interrupted; closing a child can take seconds).
//!
//! A call given up on leaves its thread running to its own deadline. Every
//! such thread holds a place in one process-wide [`Budget`] (and, when the
//! caller asks, in a smaller one of its own group, so that one stuck server
//! cannot use up the places of the others): past the bound a new call is
//! refused instead of piling up threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, select, Receiver};

/// Helper threads that may run at once in the whole process.
const SHARED_PLACES: usize = 256;

/// A bound on threads running at once; a [`Place`] is one of them.
#[derive(Debug)]
pub struct Budget {
    running: AtomicUsize,
    places: usize,
}

impl Budget {
    pub fn new(places: usize) -> Arc<Budget> {
        Arc::new(Budget {
            running: AtomicUsize::new(0),
            places,
        })
    }

    /// The process-wide budget every helper thread counts against.
    pub fn shared() -> &'static Arc<Budget> {
        static SHARED: OnceLock<Arc<Budget>> = OnceLock::new();
        SHARED.get_or_init(|| Budget::new(SHARED_PLACES))
    }

    pub fn places(&self) -> usize {
        self.places
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// A place, or `None` when all are taken.
    pub fn take(self: &Arc<Self>) -> Option<Place> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.places).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(self.clone()))
    }
}

/// One place in a [`Budget`]; given back when dropped.
#[derive(Debug)]
pub struct Place(Arc<Budget>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why no helper thread was started.
#[derive(Debug)]
pub enum Refused {
    /// The group's budget is used up: `places` of its threads still run.
    GroupFull { places: usize },
    /// The process-wide budget is used up.
    AllFull { places: usize },
    /// The system would not start a thread.
    NoThread(std::io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::GroupFull { places } | Refused::AllFull { places } => {
                write!(f, "{places} requests are still running")
            }
            Refused::NoThread(e) => write!(f, "no thread could be started: {e}"),
        }
    }
}

/// Starts `work` on a thread named `name` that holds a place in the shared
/// budget (and in `group`'s) until it ends.
pub fn spawn(
    name: String,
    group: Option<&Arc<Budget>>,
    work: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, Refused> {
    let own = match group {
        Some(group) => Some(group.take().ok_or(Refused::GroupFull {
            places: group.places(),
        })?),
        None => None,
    };
    let shared = Budget::shared().take().ok_or(Refused::AllFull {
        places: SHARED_PLACES,
    })?;
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let _places = (shared, own);
            work();
        })
        .map_err(Refused::NoThread)
}

/// A blocking call under way on its own thread.
pub struct Pending<T> {
    answer: Receiver<T>,
}

/// How waiting for a [`Pending`] call ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited<T> {
    Done(T),
    Cancelled,
    TimedOut,
    /// The thread ended without an answer (it panicked).
    Lost,
}

impl<T: Send + 'static> Pending<T> {
    /// Runs `work` on a helper thread (see [`spawn`]).
    pub fn start(
        name: String,
        group: Option<&Arc<Budget>>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Pending<T>, Refused> {
        let (tx, answer) = bounded(1);
        spawn(name, group, move || {
            let _ = tx.send(work());
        })?;
        Ok(Pending { answer })
    }

    /// Where the answer arrives, for a caller that waits on more than a
    /// cancellation and a deadline.
    pub fn answer(&self) -> &Receiver<T> {
        &self.answer
    }

    /// Waits for the answer, `cancel` or `timeout` (none: no deadline),
    /// whichever comes first; the thread of a call given up on runs on.
    pub fn wait(self, timeout: Option<Duration>, cancel: &Receiver<()>) -> Waited<T> {
        let deadline = timeout.map_or_else(never, crossbeam_channel::after);
        select! {
            recv(self.answer) -> got => got.map_or(Waited::Lost, Waited::Done),
            recv(cancel) -> _ => Waited::Cancelled,
            recv(deadline) -> _ => Waited::TimedOut,
        }
    }
}

/// Joins `threads`, waiting up to `grace` for all of them together; the
/// ones still running then are left behind. Returns how many were.
pub fn join_within<T>(threads: impl IntoIterator<Item = JoinHandle<T>>, grace: Duration) -> usize {
    let deadline = Instant::now() + grace;
    let mut left = 0;
    for handle in threads {
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if handle.is_finished() {
            let _ = handle.join();
        } else {
            left += 1;
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> (crossbeam_channel::Sender<()>, Receiver<()>) {
        bounded(0)
    }

    #[test]
    fn a_budget_gives_out_its_places_and_takes_them_back() {
        let budget = Budget::new(3);
        let held: Vec<Place> = std::iter::from_fn(|| budget.take()).take(10).collect();
        assert_eq!(held.len(), 3);
        assert_eq!(budget.running(), 3);
        assert!(budget.take().is_none());
        drop(held);
        assert_eq!(budget.running(), 0);
        assert!(budget.take().is_some());
    }

    #[test]
    fn calls_given_up_on_keep_their_place_until_their_thread_ends() {
        let group = Budget::new(2);
        let (release, hold) = gate();
        for _ in 0..2 {
            let hold = hold.clone();
            let pending = Pending::start("test-hung".into(), Some(&group), move || {
                let _ = hold.recv();
            })
            .expect("a place is free");
            let waited = pending.wait(Some(Duration::from_millis(1)), &never());
            assert_eq!(waited, Waited::TimedOut);
        }
        assert_eq!(
            group.running(),
            2,
            "abandoned threads gave back their place"
        );
        match Pending::start("test-refused".into(), Some(&group), || ()) {
            Err(Refused::GroupFull { places: 2 }) => {}
            other => panic!("a third call was not refused: {:?}", other.err()),
        }
        // The hung calls end: their places come back, bounded in time.
        drop(release);
        let deadline = Instant::now() + Duration::from_secs(10);
        while group.running() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(group.running(), 0);
        let pending = Pending::start("test-after".into(), Some(&group), || 7).expect("free");
        assert_eq!(pending.wait(None, &never()), Waited::Done(7));
    }

    #[test]
    fn a_cancelled_wait_returns_at_once() {
        let (release, hold) = gate();
        let pending = Pending::start("test-cancel".into(), None, move || hold.recv().is_ok())
            .expect("a place is free");
        let (tx, cancel) = bounded::<()>(0);
        drop(tx);
        assert_eq!(pending.wait(None, &cancel), Waited::Cancelled);
        drop(release);
    }

    #[test]
    fn join_within_leaves_the_late_threads_behind() {
        let (release, hold) = gate();
        let quick = std::thread::spawn(|| ());
        let late = std::thread::spawn(move || {
            let _ = hold.recv();
        });
        assert_eq!(join_within([quick, late], Duration::from_millis(20)), 1);
        drop(release);
    }
}

//! Helper threads: the bounded wait for threads at shutdown, and blocking
//! calls run on a thread of their own so that the caller can give up on
//! them (ureq cannot be interrupted; closing a child can take seconds).
//!
//! A call given up on leaves its thread running to its own deadline, so
//! every helper thread holds a place until it ends, by this one rule:
//!
//! - it belongs to a group: two per upstream server ([`upstream`]: its
//!   HTTP requests and side messages, connects (an HTTP connect then reads
//!   the session's GET stream until it closes), probes, list reads, roots,
//!   restores, `doctor` checks, closes; [`relays`]: its
//!   requests waiting for the agent's answer) and one for the platform's
//!   cancellable calls ([`platform`]); a group never runs more than its
//!   own places;
//! - the first [`RESERVED_PLACES`] threads of a group need nothing more:
//!   a group with fewer running always gets a place, whatever the others
//!   hold, so one server in trouble cannot starve the platform or a
//!   healthy server;
//! - each thread beyond those also takes one of the [`SHARED_PLACES`]
//!   that all groups share: at most that many plus the reserved places of
//!   every group run in the whole process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, select, Receiver};

use crate::sync::lock;

/// Helper threads one upstream server may have running at once, of all
/// kinds together.
pub const UPSTREAM_PLACES: usize = 64;
/// Requests one upstream server has waiting for the agent's answer, at most.
pub const RELAY_PLACES: usize = 48;
/// Platform requests running on threads of their own, at most.
pub const PLATFORM_PLACES: usize = 32;
/// The places of every group that need no shared place.
pub const RESERVED_PLACES: usize = 8;
/// The stack of every thread that parses, builds or drops JSON from an
/// untrusted peer: values nest up to `upstream::oversized::MAX_DEPTH`
/// levels and serde_json recurses on each (2 MiB overflowed at 990 levels
/// in a debug build). Reserved address space: only the pages a thread
/// touches count towards RSS.
pub const JSON_STACK: usize = 4 * 1024 * 1024;
/// Places beyond the reserved ones, shared by all groups.
pub const SHARED_PLACES: usize = 256;

/// A bound on threads running at once; a [`Place`] is one of them. The
/// first `reserved` places of a group need no place in the shared budget.
#[derive(Debug)]
pub struct Budget {
    running: AtomicUsize,
    places: usize,
    reserved: usize,
}

impl Budget {
    pub fn new(places: usize) -> Arc<Budget> {
        Budget::group(places, 0)
    }

    /// A group's budget: `places` at most, the first `reserved` of them
    /// free of the shared bound.
    pub fn group(places: usize, reserved: usize) -> Arc<Budget> {
        Arc::new(Budget {
            running: AtomicUsize::new(0),
            places,
            reserved: reserved.min(places),
        })
    }

    /// The places every group takes beyond its reserved ones.
    fn shared() -> &'static Arc<Budget> {
        static SHARED: OnceLock<Arc<Budget>> = OnceLock::new();
        SHARED.get_or_init(|| Budget::new(SHARED_PLACES))
    }

    pub fn places(&self) -> usize {
        self.places
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// A place, or `None` when all are taken. Also says whether it is one
    /// of the reserved places (fewer than `reserved` were running).
    fn take_counted(self: &Arc<Self>) -> Option<(Place, bool)> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.places).then_some(n + 1)
            })
            .ok()
            .map(|before| (Place(self.clone()), before < self.reserved))
    }

    /// A place, or `None` when all are taken.
    pub fn take(self: &Arc<Self>) -> Option<Place> {
        self.take_counted().map(|(place, _)| place)
    }

    /// A place in this group and, past its reserved ones, in `shared`.
    fn admit(self: &Arc<Self>, shared: &Arc<Budget>) -> Result<Held, Refused> {
        let (own, reserved) = self.take_counted().ok_or(Refused::GroupFull {
            places: self.places,
        })?;
        if reserved {
            return Ok(Held {
                _group: own,
                _shared: None,
            });
        }
        let shared_place = shared.take().ok_or(Refused::AllFull {
            places: shared.places,
        })?;
        Ok(Held {
            _group: own,
            _shared: Some(shared_place),
        })
    }
}

/// The budget of the upstream server `name`, the same for all its
/// sessions (threads of an old session still count when it reconnects).
pub fn upstream(name: &str) -> Arc<Budget> {
    static GROUPS: OnceLock<Mutex<HashMap<String, Arc<Budget>>>> = OnceLock::new();
    named(&GROUPS, name, || {
        Budget::group(UPSTREAM_PLACES, RESERVED_PLACES)
    })
}

/// The budget of the requests `name` sends to the agent, each waiting on a
/// thread for the agent's answer (a person may take minutes). Apart from
/// the server's other helpers: questions nobody answers must not stop its
/// list reads, pings and reconnects. Nothing reserved: every relay also
/// takes a shared place.
pub fn relays(name: &str) -> Arc<Budget> {
    static GROUPS: OnceLock<Mutex<HashMap<String, Arc<Budget>>>> = OnceLock::new();
    named(&GROUPS, name, || Budget::new(RELAY_PLACES))
}

fn named(
    groups: &OnceLock<Mutex<HashMap<String, Arc<Budget>>>>,
    name: &str,
    make: impl FnOnce() -> Arc<Budget>,
) -> Arc<Budget> {
    let groups = groups.get_or_init(Mutex::default);
    lock(groups)
        .entry(name.to_string())
        .or_insert_with(make)
        .clone()
}

/// The budget of the platform's cancellable calls.
pub fn platform() -> &'static Arc<Budget> {
    static PLATFORM: OnceLock<Arc<Budget>> = OnceLock::new();
    PLATFORM.get_or_init(|| Budget::group(PLATFORM_PLACES, RESERVED_PLACES))
}

/// One place in a [`Budget`]; given back when dropped.
#[derive(Debug)]
pub struct Place(Arc<Budget>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a helper thread holds while it runs: its group's place, and a
/// shared one unless it took a reserved place.
#[derive(Debug)]
struct Held {
    _group: Place,
    _shared: Option<Place>,
}

/// Why no helper thread was started.
#[derive(Debug)]
pub enum Refused {
    /// The group's budget is used up: `places` of its threads still run.
    GroupFull { places: usize },
    /// The group is past its reserved places and the shared ones are used
    /// up by all groups together.
    AllFull { places: usize },
    /// The system would not start a thread.
    NoThread(std::io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::GroupFull { places } => write!(f, "{places} requests are still running"),
            Refused::AllFull { places } => {
                write!(
                    f,
                    "{places} requests to all servers together are still running"
                )
            }
            Refused::NoThread(e) => write!(f, "no thread could be started: {e}"),
        }
    }
}

/// Starts `work` on a thread named `name` that holds a place of `group`
/// (see the rule above) until it ends.
pub fn spawn(
    name: String,
    group: &Arc<Budget>,
    work: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, Refused> {
    spawn_in(name, group, Budget::shared(), work)
}

fn spawn_in(
    name: String,
    group: &Arc<Budget>,
    shared: &Arc<Budget>,
    work: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, Refused> {
    let held = group.admit(shared)?;
    std::thread::Builder::new()
        .name(name)
        .stack_size(JSON_STACK)
        .spawn(move || {
            let _held = held;
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
        group: &Arc<Budget>,
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
            let pending = Pending::start("test-hung".into(), &group, move || {
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
        match Pending::start("test-refused".into(), &group, || ()) {
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
        let pending = Pending::start("test-after".into(), &group, || 7).expect("free");
        assert_eq!(pending.wait(None, &never()), Waited::Done(7));
    }

    /// Threads of `group` held until `release` is dropped, counted in
    /// `shared` past the group's reserved places.
    fn held_threads(
        group: &Arc<Budget>,
        shared: &Arc<Budget>,
        hold: &Receiver<()>,
        count: usize,
    ) -> Vec<Result<JoinHandle<()>, Refused>> {
        (0..count)
            .map(|_| {
                let hold = hold.clone();
                spawn_in("test-held".into(), group, shared, move || {
                    let _ = hold.recv();
                })
            })
            .collect()
    }

    fn wait_idle(budgets: &[&Arc<Budget>]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while budgets.iter().any(|b| b.running() > 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(budgets.iter().all(|b| b.running() == 0));
    }

    #[test]
    fn a_group_past_its_reserved_places_takes_shared_ones() {
        let shared = Budget::new(3);
        let group = Budget::group(10, 2);
        let (release, until) = gate();
        let started = held_threads(&group, &shared, &until, 6);
        assert!(started[..5].iter().all(Result::is_ok));
        // Two reserved, then three shared: the sixth finds none left.
        assert!(matches!(started[5], Err(Refused::AllFull { places: 3 })));
        assert_eq!((group.running(), shared.running()), (5, 3));
        drop(release);
        wait_idle(&[&group, &shared]);
    }

    #[test]
    fn a_full_group_cannot_take_another_groups_reserved_places() {
        let shared = Budget::new(4);
        let (stuck, healthy) = (Budget::group(6, 2), Budget::group(6, 2));
        let (release, until) = gate();
        let flood = held_threads(&stuck, &shared, &until, 20);
        assert_eq!(flood.iter().filter(|s| s.is_ok()).count(), 6);
        assert!(matches!(flood[6], Err(Refused::GroupFull { places: 6 })));
        assert_eq!(
            shared.running(),
            4,
            "the stuck group holds every shared place"
        );
        // The other group still gets its reserved places, then no more.
        let others = held_threads(&healthy, &shared, &until, 3);
        assert!(others[0].is_ok() && others[1].is_ok(), "{others:?}");
        assert!(matches!(others[2], Err(Refused::AllFull { places: 4 })));
        drop(release);
        wait_idle(&[&stuck, &healthy, &shared]);
    }

    #[test]
    fn a_reserved_place_given_back_is_taken_again_without_a_shared_one() {
        let shared = Budget::new(0);
        let group = Budget::group(4, 1);
        let (release, until) = gate();
        let first = held_threads(&group, &shared, &until, 2);
        assert!(first[0].is_ok());
        assert!(matches!(first[1], Err(Refused::AllFull { places: 0 })));
        drop(release);
        wait_idle(&[&group]);
        let (release, until) = gate();
        assert!(held_threads(&group, &shared, &until, 1)[0].is_ok());
        drop(release);
        wait_idle(&[&group]);
    }

    #[test]
    fn every_upstream_has_one_budget_of_its_own() {
        let a = upstream("budget-test-a");
        assert!(Arc::ptr_eq(&a, &upstream("budget-test-a")));
        assert!(!Arc::ptr_eq(&a, &upstream("budget-test-b")));
        assert_eq!(a.places(), UPSTREAM_PLACES);
        assert_eq!(platform().places(), PLATFORM_PLACES);
    }

    #[test]
    fn a_servers_relays_leave_its_other_helpers_their_places() {
        let relays = relays("budget-test-relays");
        assert!(Arc::ptr_eq(&relays, &super::relays("budget-test-relays")));
        let held: Vec<Place> = std::iter::from_fn(|| relays.take()).collect();
        assert_eq!(held.len(), RELAY_PLACES);
        let helpers = upstream("budget-test-relays");
        assert_eq!(helpers.running(), 0);
        assert!(helpers.take().is_some());
    }

    #[test]
    fn a_cancelled_wait_returns_at_once() {
        let (release, hold) = gate();
        let group = Budget::new(1);
        let pending = Pending::start("test-cancel".into(), &group, move || hold.recv().is_ok())
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

//! Poison-tolerant locking: the one place that decides what a poisoned lock
//! means. A thread that panicked while holding a lock must not wedge every
//! later caller (a stuck gateway is worse than a possibly half-updated
//! table), so each helper recovers the guard and carries on.

use std::sync::{Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `changed` for up to `wait` while `blocked` holds; returns the
/// guard whether or not the condition ended.
pub fn wait_while<'a, T>(
    changed: &Condvar,
    guard: MutexGuard<'a, T>,
    wait: Duration,
    blocked: impl FnMut(&mut T) -> bool,
) -> MutexGuard<'a, T> {
    match changed.wait_timeout_while(guard, wait, blocked) {
        Ok((guard, _)) => guard,
        Err(e) => e.into_inner().0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn poison<T: Send + Sync + 'static>(shared: Arc<T>, hold: fn(&T)) {
        let held = shared.clone();
        let _ = std::thread::spawn(move || {
            hold(&held);
        })
        .join();
    }

    #[test]
    fn a_poisoned_mutex_still_locks_with_its_value() {
        let m = Arc::new(Mutex::new(7));
        poison(m.clone(), |m| {
            let _g = m.lock().unwrap();
            panic!("poisons the lock");
        });
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 8);
    }

    #[test]
    fn a_poisoned_rwlock_still_reads_and_writes() {
        let l = Arc::new(RwLock::new(String::from("a")));
        poison(l.clone(), |l| {
            let _g = l.write().unwrap();
            panic!("poisons the lock");
        });
        assert!(l.is_poisoned());
        write(&l).push('b');
        assert_eq!(&*read(&l), "ab");
    }

    #[test]
    fn wait_while_returns_at_the_deadline_or_when_the_condition_ends() {
        let m = Mutex::new(false);
        let cv = Condvar::new();
        let guard = wait_while(&cv, lock(&m), Duration::from_millis(10), |done| !*done);
        assert!(!*guard);
        drop(guard);
        *lock(&m) = true;
        let guard = wait_while(&cv, lock(&m), Duration::from_secs(60), |done| !*done);
        assert!(*guard);
    }
}

//! Test builds only: the machines take time as an argument, so their unit
//! tests need one real `Instant` to count from. It lives here, outside
//! `machine/`, which never reads a clock.

use std::time::Instant;

pub fn epoch() -> Instant {
    Instant::now()
}

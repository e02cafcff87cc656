//! The one place the shell seeds its pseudo-randomness from the clock and
//! the process id: jitter for the machines (so that agents and servers
//! started together do not beat and probe in step), and the fallbacks used
//! when the kernel's random source fails. The generators themselves are
//! pure (`machine::XorShift`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::machine::{Jitter, XorShift};

/// Differs between processes and between calls in one process (the clock
/// moves); not unpredictable.
pub fn from_time_and_pid() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// Jitter for one machine, told apart from the others of this process by
/// `tag` (a workspace id, a server's index).
pub fn jitter(tag: &[u8]) -> Box<dyn Jitter> {
    let seed = tag
        .iter()
        .fold(from_time_and_pid(), |h, b| h.rotate_left(5) ^ u64::from(*b));
    Box::new(XorShift::new(seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_of_one_process_draw_different_jitter() {
        let draws = |tag: &[u8]| {
            let mut j = jitter(tag);
            (0..4).map(|_| j.unit()).collect::<Vec<_>>()
        };
        assert_ne!(draws(b"ws-a"), draws(b"ws-b"));
        for value in draws(b"ws-a") {
            assert!((0.0..1.0).contains(&value), "{value}");
        }
    }
}

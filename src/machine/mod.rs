//! Pure state machines. Nothing here reads a clock, sleeps or does I/O:
//! time arrives as an argument and effects are returned as data.
//!
//! Every machine has the same shape: `handle(event, now)` returns the
//! effects the shell must carry out, `next_deadline()` says when the shell
//! must come back with a `Tick` even if nothing else happens, and small
//! accessors expose the state for logs and tests. The tables in `spec/`
//! describe every transition and are checked against this code by
//! `tests/state_tables.rs`.

pub mod auth;
pub mod breaker;
pub mod heartbeat;
mod jitter;
pub mod log_limit;
pub mod progress;
pub mod resumption;
pub mod session;
pub mod startup_wait;
pub mod upstream;

pub use jitter::{Fixed, XorShift};

use std::time::{Duration, Instant};

/// A source of randomness for spreading timers, injected so that tests and
/// tables are deterministic while the running process is not.
pub trait Jitter: Send {
    /// A value in [0, 1).
    fn unit(&mut self) -> f64;
}

/// Draws from `jitter`, forcing the value into [0, 1) so that a faulty
/// source can bend a schedule but never break one.
pub(crate) fn draw(jitter: &mut dyn Jitter) -> f64 {
    jitter::clamp_unit(jitter.unit())
}

/// `now + delay`, or `now` when the sum cannot be represented: an absurd
/// configured delay fires at once instead of panicking.
pub(crate) fn later(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or(now)
}

/// `delay × factor`, keeping `delay` when the product is not a duration
/// (negative, NaN, too large).
pub(crate) fn scaled(delay: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor).unwrap_or(delay)
}

/// A fraction read from configuration, forced into [0, `max`].
pub(crate) fn fraction(value: f64, max: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::epoch as test_epoch;

    #[test]
    fn later_saturates_to_now_instead_of_overflowing() {
        let now = test_epoch();
        assert_eq!(later(now, Duration::MAX), now);
        assert_eq!(
            later(now, Duration::from_secs(2)),
            now + Duration::from_secs(2)
        );
    }

    #[test]
    fn scaled_keeps_the_delay_when_the_factor_is_unusable() {
        let d = Duration::from_secs(10);
        assert_eq!(scaled(d, 0.5), Duration::from_secs(5));
        assert_eq!(scaled(d, -1.0), d);
        assert_eq!(scaled(d, f64::NAN), d);
        assert_eq!(scaled(Duration::MAX, 4.0), Duration::MAX);
    }

    #[test]
    fn fraction_is_clamped_and_nan_is_zero() {
        assert_eq!(fraction(0.1, 1.0), 0.1);
        assert_eq!(fraction(-3.0, 1.0), 0.0);
        assert_eq!(fraction(7.0, 0.5), 0.5);
        assert_eq!(fraction(f64::NAN, 1.0), 0.0);
    }

    #[test]
    fn draw_clamps_a_misbehaving_source() {
        for bad in [1.0, 5.0, f64::INFINITY] {
            let v = draw(&mut Fixed(bad));
            assert!((0.0..1.0).contains(&v), "{bad} gave {v}");
        }
        assert_eq!(draw(&mut Fixed(-0.5)), 0.0);
        assert_eq!(draw(&mut Fixed(f64::NAN)), 0.0);
        assert_eq!(draw(&mut Fixed(0.25)), 0.25);
    }
}

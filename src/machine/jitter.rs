//! The two jitter sources: a fixed value for tables and tests, and a small
//! seeded PRNG for the running process.

use super::Jitter;

/// The largest `f64` below 1.
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

pub(crate) fn clamp_unit(value: f64) -> f64 {
    if value.is_nan() || value < 0.0 {
        0.0
    } else if value >= 1.0 {
        BELOW_ONE
    } else {
        value
    }
}

/// Always the same value, so a schedule can be written down in a table.
/// Values outside [0, 1) are clamped into it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fixed(pub f64);

impl Jitter for Fixed {
    fn unit(&mut self) -> f64 {
        clamp_unit(self.0)
    }
}

/// xorshift64: not cryptographic, only good enough to keep many processes
/// from beating and probing in step. The shell seeds it (for example from
/// the process id and the start time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // One splitmix64 round spreads nearby seeds (consecutive pids) apart,
        // and xorshift must never start from 0, its only fixed point.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z })
    }
}

impl Jitter for XorShift {
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        // The top 53 bits fill an f64 mantissa exactly: the result is < 1.
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_returns_its_value_clamped() {
        assert_eq!(Fixed(0.5).unit(), 0.5);
        assert_eq!(Fixed(0.0).unit(), 0.0);
        assert!(Fixed(1.0).unit() < 1.0);
        assert_eq!(Fixed(-1.0).unit(), 0.0);
    }

    #[test]
    fn xorshift_stays_in_range_and_spreads() {
        let mut rng = XorShift::new(7);
        let mut low = 0;
        let n = 10_000;
        for _ in 0..n {
            let v = rng.unit();
            assert!((0.0..1.0).contains(&v), "{v}");
            if v < 0.5 {
                low += 1;
            }
        }
        // A fair source puts about half below 0.5; a stuck one puts all or none.
        assert!((4_000..6_000).contains(&low), "{low} of {n} below 0.5");
    }

    #[test]
    fn xorshift_is_deterministic_per_seed_and_differs_across_seeds() {
        let a: Vec<f64> = (0..5)
            .scan(XorShift::new(42), |r, _| Some(r.unit()))
            .collect();
        let b: Vec<f64> = (0..5)
            .scan(XorShift::new(42), |r, _| Some(r.unit()))
            .collect();
        let c: Vec<f64> = (0..5)
            .scan(XorShift::new(43), |r, _| Some(r.unit()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn xorshift_survives_a_zero_seed() {
        let mut rng = XorShift::new(0);
        let first = rng.unit();
        let second = rng.unit();
        assert_ne!(first, second, "a zero state would repeat 0 forever");
    }
}

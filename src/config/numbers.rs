//! Numeric settings: intervals in seconds and the advised poll timeout.

use std::time::Duration;

use super::env::{self, shown};
use super::{ConfigError, EnvMap};

/// Shorter intervals would hammer the platform; longer ones are mistakes
/// (the platform marks a workspace offline after about 90 s without a beat).
const MIN_INTERVAL_SECS: f64 = 0.05;
const MAX_INTERVAL_SECS: f64 = 3600.0;
const MAX_POLL_TIMEOUT_SECS: i64 = 60;

/// An interval in seconds; decimals allowed so tests can run fast.
pub fn interval(env: &EnvMap, name: &str, default_secs: u64, errors: &mut ConfigError) -> Duration {
    let default = Duration::from_secs(default_secs);
    let Some(text) = env::text(env, name, errors) else {
        return default;
    };
    match text.parse::<f64>() {
        Ok(secs) if (MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&secs) => {
            Duration::from_secs_f64(secs)
        }
        _ => {
            errors.problem(format!(
                "{name}={} is not a usable interval. Give a number of seconds from \
                 {MIN_INTERVAL_SECS} to {MAX_INTERVAL_SECS}, or unset it for the default {default_secs}.",
                shown(&text)
            ));
            default
        }
    }
}

/// The `wait_for_message` timeout advised to the agent: whole seconds,
/// clamped to 0..=60.
pub fn poll_timeout(env: &EnvMap, name: &str, default_secs: u64, errors: &mut ConfigError) -> u64 {
    let Some(text) = env::text(env, name, errors) else {
        return default_secs;
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        errors.problem(format!(
            "{name}={} is not a whole number of seconds. Give 0 to {MAX_POLL_TIMEOUT_SECS} \
             (0 turns polling off), or unset it for the default {default_secs}.",
            shown(&text)
        ));
        return default_secs;
    }
    if negative {
        return 0;
    }
    // Any run of digits longer than i64 holds is far above the clamp anyway.
    let secs = digits.parse::<i64>().unwrap_or(i64::MAX);
    secs.clamp(0, MAX_POLL_TIMEOUT_SECS) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env(name: &str, value: &str) -> EnvMap {
        [(name.to_string(), OsString::from(value))]
            .into_iter()
            .collect()
    }

    #[test]
    fn interval_defaults_and_parses_decimals() {
        let mut errors = ConfigError::default();
        assert_eq!(
            interval(&EnvMap::new(), "H", 20, &mut errors),
            Duration::from_secs(20)
        );
        assert_eq!(
            interval(&env("H", " 0.5 "), "H", 20, &mut errors),
            Duration::from_millis(500)
        );
        assert_eq!(
            interval(&env("H", "7"), "H", 20, &mut errors),
            Duration::from_secs(7)
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn bad_intervals_name_the_variable() {
        for bad in [
            "abc",
            "0",
            "-1",
            "NaN",
            "inf",
            "1e9",
            "20s",
            &"9".repeat(1 << 20),
        ] {
            let mut errors = ConfigError::default();
            let got = interval(
                &env("MOLECULE_MCP_HEARTBEAT_SECS", bad),
                "MOLECULE_MCP_HEARTBEAT_SECS",
                20,
                &mut errors,
            );
            assert_eq!(got, Duration::from_secs(20));
            assert_eq!(errors.problems.len(), 1, "{bad}");
            assert!(errors.problems[0].starts_with("MOLECULE_MCP_HEARTBEAT_SECS="));
            assert!(errors.problems[0].len() < 400);
        }
    }

    #[test]
    fn poll_timeout_clamps() {
        let cases = [
            ("0", 0),
            ("2", 2),
            ("60", 60),
            ("61", 60),
            ("-5", 0),
            ("+3", 3),
            (&"9".repeat(4096) as &str, 60),
        ];
        for (raw, want) in cases {
            let mut errors = ConfigError::default();
            assert_eq!(
                poll_timeout(&env("T", raw), "T", 2, &mut errors),
                want,
                "{raw}"
            );
            assert!(errors.is_empty());
        }
    }

    #[test]
    fn poll_timeout_refuses_non_integers() {
        for bad in ["2.5", "two", "-", "--1", "1 2", "+-1"] {
            let mut errors = ConfigError::default();
            assert_eq!(
                poll_timeout(&env("T", bad), "T", 2, &mut errors),
                2,
                "{bad}"
            );
            assert_eq!(errors.problems.len(), 1, "{bad}");
        }
    }
}

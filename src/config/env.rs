//! Reading values out of the environment map: trimmed, empty means unset,
//! and text that is not UTF-8 is reported rather than guessed at.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{ConfigError, EnvMap};
use crate::redact;

/// One variable as the configuration sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Unset,
    Text(String),
    NotUtf8,
}

impl Value {
    pub fn is_set(&self) -> bool {
        !matches!(self, Value::Unset)
    }
}

pub fn value(env: &EnvMap, name: &str) -> Value {
    let Some(raw) = env.get(name) else {
        return Value::Unset;
    };
    match raw.to_str() {
        Some(text) if text.trim().is_empty() => Value::Unset,
        Some(text) => Value::Text(text.trim().to_string()),
        None if trim_bytes(raw).is_empty() => Value::Unset,
        None => Value::NotUtf8,
    }
}

/// The text of `name`, or `None` when unset; a value that is not UTF-8 is
/// recorded as a problem and read as `None`.
pub fn text(env: &EnvMap, name: &str, errors: &mut ConfigError) -> Option<String> {
    match value(env, name) {
        Value::Unset => None,
        Value::Text(text) => Some(text),
        Value::NotUtf8 => {
            errors.problem(format!(
                "{name} is not valid UTF-8 text. Set it again with plain text."
            ));
            None
        }
    }
}

/// A switch: on when the variable holds anything at all.
pub fn flag(env: &EnvMap, name: &str) -> bool {
    value(env, name).is_set()
}

/// A path. Paths need not be UTF-8, so any bytes are accepted.
pub fn path(env: &EnvMap, name: &str) -> Option<PathBuf> {
    let raw = env.get(name)?;
    let trimmed = trim_bytes(raw);
    if trimmed.is_empty() {
        None
    } else {
        Some(PathBuf::from(trimmed))
    }
}

#[cfg(unix)]
fn trim_bytes(raw: &OsString) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = raw.as_bytes();
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    OsString::from_vec(bytes[start..end].to_vec())
}

#[cfg(not(unix))]
fn trim_bytes(raw: &OsString) -> OsString {
    match raw.to_str() {
        Some(text) => OsString::from(text.trim()),
        None => raw.clone(),
    }
}

/// A value quoted in a message: short, one line, escapes visible, and
/// redacted in case a secret was pasted into the wrong variable. Never used
/// for token values.
pub fn shown(value: &str) -> String {
    if value.contains('@') {
        // `scheme://user:password@host`: credentials no pattern can spot.
        return "(value not shown: it may hold credentials)".into();
    }
    const LIMIT: usize = 60;
    let mut out: String = value.chars().take(LIMIT).collect();
    if value.chars().nth(LIMIT).is_some() {
        out.push_str("...");
    }
    redact::redact(&format!("{out:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_env as env;

    #[test]
    fn values_are_trimmed_and_blank_is_unset() {
        let env = env(&[("A", "  x y \n"), ("B", " \t "), ("C", "")]);
        assert_eq!(value(&env, "A"), Value::Text("x y".into()));
        assert_eq!(value(&env, "B"), Value::Unset);
        assert_eq!(value(&env, "C"), Value::Unset);
        assert_eq!(value(&env, "D"), Value::Unset);
        assert!(!flag(&env, "B"));
        assert!(flag(&env, "A"));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_is_a_problem_but_a_fine_path() {
        use std::os::unix::ffi::OsStringExt;
        let mut env = EnvMap::new();
        env.insert("X".into(), OsString::from_vec(vec![b' ', 0xff, b'a', b' ']));
        assert_eq!(value(&env, "X"), Value::NotUtf8);
        let mut errors = ConfigError::default();
        assert_eq!(text(&env, "X", &mut errors), None);
        assert_eq!(errors.problems.len(), 1);
        assert!(errors.problems[0].contains("X is not valid UTF-8"));
        assert_eq!(
            path(&env, "X"),
            Some(PathBuf::from(OsString::from_vec(vec![0xff, b'a'])))
        );
    }

    #[test]
    fn shown_values_are_short_and_escaped() {
        assert_eq!(shown("ftp://x"), "\"ftp://x\"");
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        let long = shown(&"z".repeat(10_000));
        assert!(long.len() < 80, "{long}");
        assert!(long.ends_with("...\""));
    }

    #[test]
    fn shown_values_hide_credentials() {
        assert!(!shown("https://user:pw@host").contains("pw"));
        assert_eq!(
            shown("http://x/?token=abc"),
            "\"http://x/?token=[redacted]\""
        );
    }
}

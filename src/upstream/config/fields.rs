//! Typed reads of one JSON object's keys, collecting every problem instead
//! of stopping at the first, so an operator fixes an entry in one go.
//! Problems name the key, never its value: values may be credentials.
//! `null` reads as absent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

/// Durations above this are surely mistakes (and would overflow timers).
pub(super) const MAX_SECS: f64 = 86_400.0;

pub(super) struct Fields<'a> {
    object: &'a Map<String, Value>,
    /// `"breaker."` for nested objects, so problems name the full key.
    prefix: String,
    pub problems: Vec<String>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>, prefix: &str) -> Self {
        Fields {
            object,
            prefix: prefix.to_string(),
            problems: Vec::new(),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn problem(&mut self, key: &str, what: &str) {
        self.problems.push(format!("{}{key} {what}", self.prefix));
    }

    /// Keys present but not in `known`.
    pub fn unknown(&self, known: &[&str]) -> Vec<String> {
        self.object
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| format!("{}{}", self.prefix, shown_key(k)))
            .collect()
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if s.contains('\0') => {
                self.problem(key, "holds a NUL character");
                None
            }
            Value::String(s) => Some(s.clone()),
            _ => {
                self.problem(key, "must be a string");
                None
            }
        }
    }

    pub fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let Value::Array(items) = self.get(key)? else {
            self.problem(key, "must be an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if s.contains('\0') => {
                    self.problem(&format!("{key}[{i}]"), "holds a NUL character")
                }
                Value::String(s) => out.push(s.clone()),
                _ => self.problem(&format!("{key}[{i}]"), "must be a string"),
            }
        }
        Some(out)
    }

    /// An object whose values are all strings; keys are checked by `key_ok`,
    /// which says what is wrong with a key.
    pub fn string_map(
        &mut self,
        key: &str,
        key_ok: impl Fn(&str) -> Result<(), &'static str>,
    ) -> Option<BTreeMap<String, String>> {
        let Value::Object(map) = self.get(key)? else {
            self.problem(key, "must be an object of strings");
            return None;
        };
        let mut out = BTreeMap::new();
        for (name, value) in map {
            let place = format!("{key}.{}", shown_key(name));
            if let Err(what) = key_ok(name) {
                self.problem(&place, what);
                continue;
            }
            match value {
                Value::String(s) if s.contains('\0') => {
                    self.problem(&place, "holds a NUL character")
                }
                Value::String(s) => {
                    out.insert(name.clone(), s.clone());
                }
                _ => self.problem(&place, "must be a string"),
            }
        }
        Some(out)
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.problem(key, "must be true or false");
                None
            }
        }
    }

    /// Seconds, more than 0 and at most [`MAX_SECS`].
    pub fn seconds(&mut self, key: &str) -> Option<Duration> {
        let value = self.get(key)?;
        let Some(secs) = value.as_f64() else {
            self.problem(key, "must be a number of seconds");
            return None;
        };
        if secs <= 0.0 {
            self.problem(key, "must be more than 0 seconds");
            return None;
        }
        if secs > MAX_SECS {
            self.problem(key, "must be at most 86400 seconds (one day)");
            return None;
        }
        match Duration::try_from_secs_f64(secs) {
            Ok(d) => Some(d),
            Err(_) => {
                self.problem(key, "must be a number of seconds");
                None
            }
        }
    }

    /// A whole number from 1 (`3.0` is accepted: JSON does not tell them
    /// apart for humans).
    pub fn count(&mut self, key: &str) -> Option<u32> {
        let value = self.get(key)?;
        let whole = match value {
            Value::Number(n) => n.as_i64().map(|i| i as f64).or_else(|| n.as_f64()),
            _ => None,
        };
        let Some(whole) = whole.filter(|x| x.fract() == 0.0) else {
            self.problem(key, "must be a whole number");
            return None;
        };
        if whole < 1.0 {
            self.problem(key, "must be at least 1");
            return None;
        }
        if whole > f64::from(u32::MAX) {
            self.problem(key, "is too large");
            return None;
        }
        Some(whole as u32)
    }

    /// A nested object, read with its own [`Fields`] whose problems the
    /// caller merges back with [`Fields::absorb`].
    pub fn object(&mut self, key: &str) -> Option<Fields<'a>> {
        match self.get(key)? {
            Value::Object(map) => Some(Fields::new(map, &format!("{}{key}.", self.prefix))),
            _ => {
                self.problem(key, "must be an object");
                None
            }
        }
    }

    pub fn absorb(&mut self, nested: Fields<'_>) {
        self.problems.extend(nested.problems);
    }
}

/// A key as quoted in a message: escaped, one line, short.
pub(super) fn shown_key(key: &str) -> String {
    const LIMIT: usize = 40;
    let mut short: String = key.chars().take(LIMIT).collect();
    if key.chars().nth(LIMIT).is_some() {
        short.push_str("...");
    }
    let plain = !short.is_empty()
        && short
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if plain {
        short
    } else {
        format!("{short:?}")
    }
}

//! Reading tool arguments. A missing required argument, a wrong type or a
//! value outside a fixed set is the caller's mistake: `-32602` with a message
//! naming the argument. Numbers are clamped rather than refused, since an
//! out-of-range wait or limit has an obvious nearest meaning.

use serde_json::{Map, Value};

use crate::mcp::jsonrpc::RpcError;

/// The memory scopes the platform knows.
pub const SCOPES: [&str; 3] = ["LOCAL", "TEAM", "GLOBAL"];

pub struct Args<'a> {
    map: &'a Map<String, Value>,
}

fn bad(message: String) -> RpcError {
    RpcError::invalid_params(message)
}

impl<'a> Args<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Args { map }
    }

    /// Absent and `null` both mean "not given".
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A string that must be given and must not be blank.
    pub fn required_str(&self, name: &str) -> Result<&'a str, RpcError> {
        let text = self.present_str(name)?;
        if text.trim().is_empty() {
            return Err(bad(format!("`{name}` must not be empty")));
        }
        Ok(text)
    }

    /// A required id: trimmed, not blank, and following the
    /// configuration's id rules (letters, digits, `-`, `_`, `.`, starting
    /// with a letter or digit), since ids become URL path segments sent
    /// with our token: `..` must never reach one.
    pub fn required_id(&self, name: &str) -> Result<&'a str, RpcError> {
        let id = self.required_str(name)?.trim();
        id_rules(name, id)?;
        Ok(id)
    }

    /// An id that must be given but may be empty (then: "any").
    pub fn present_id(&self, name: &str) -> Result<&'a str, RpcError> {
        let id = self.present_str(name)?.trim();
        if !id.is_empty() {
            id_rules(name, id)?;
        }
        Ok(id)
    }

    /// A string that must be given but may be empty.
    pub fn present_str(&self, name: &str) -> Result<&'a str, RpcError> {
        match self.get(name) {
            None => Err(bad(format!("`{name}` is required"))),
            Some(Value::String(text)) => Ok(text),
            Some(other) => Err(bad(format!(
                "`{name}` must be a string, not {}",
                kind(other)
            ))),
        }
    }

    /// An optional string, trimmed; blank counts as not given.
    pub fn optional_str(&self, name: &str) -> Result<Option<&'a str>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim())),
            Some(other) => Err(bad(format!(
                "`{name}` must be a string, not {}",
                kind(other)
            ))),
        }
    }

    /// A whole number, `default` when not given, clamped to `min..=max`.
    /// Fractions are rounded down; numeric strings are accepted because some
    /// hosts send every argument as text.
    pub fn number(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, RpcError> {
        let value = match self.get(name) {
            None => return Ok(default.clamp(min, max)),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match value {
            Some(v) if v.is_finite() => Ok(clamp(v, min, max)),
            _ => Err(bad(format!("`{name}` must be a number"))),
        }
    }

    /// As [`Args::number`], `None` when not given.
    pub fn optional_number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, RpcError> {
        match self.get(name) {
            None => Ok(None),
            Some(_) => self.number(name, min, min, max).map(Some),
        }
    }

    /// A required JSON object.
    pub fn object(&self, name: &str) -> Result<&'a Map<String, Value>, RpcError> {
        match self.get(name) {
            None => Err(bad(format!("`{name}` is required (an object)"))),
            Some(Value::Object(map)) => Ok(map),
            Some(other) => Err(bad(format!(
                "`{name}` must be an object, not {}",
                kind(other)
            ))),
        }
    }

    /// An optional array of strings; not given is empty.
    pub fn string_list(&self, name: &str) -> Result<Vec<&'a str>, RpcError> {
        let items = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(bad(format!(
                    "`{name}` must be an array of strings, not {}",
                    kind(other)
                )))
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.as_str()),
                other => Err(bad(format!(
                    "`{name}[{i}]` must be a string, not {}",
                    kind(other)
                ))),
            })
            .collect()
    }

    /// A memory scope (any letter case), or `None` when not given.
    pub fn scope(&self, name: &str) -> Result<Option<&'static str>, RpcError> {
        let Some(given) = self.optional_str(name)? else {
            return Ok(None);
        };
        SCOPES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(given))
            .copied()
            .map(Some)
            .ok_or_else(|| bad(format!("`{name}` must be one of LOCAL, TEAM, GLOBAL")))
    }

    /// An optional RFC 3339 timestamp.
    pub fn timestamp(&self, name: &str) -> Result<Option<&'a str>, RpcError> {
        match self.optional_str(name)? {
            Some(ts) if !is_rfc3339(ts) => Err(bad(format!(
                "`{name}` must be an RFC 3339 timestamp such as 2026-05-01T12:00:00Z"
            ))),
            other => Ok(other),
        }
    }
}

fn id_rules(name: &str, id: &str) -> Result<(), RpcError> {
    crate::config::check_id(id).map_err(|why| {
        let why = why.replace("workspace id", "platform id");
        bad(format!(
            "`{name}` {why} Got {:?}.",
            crate::redact::clip(id, 80)
        ))
    })
}

fn clamp(v: f64, min: u64, max: u64) -> u64 {
    if v <= min as f64 {
        min
    } else if v >= max as f64 {
        max
    } else {
        (v.floor() as u64).clamp(min, max)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with real calendar values.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return false;
    }
    let digits = |from: usize, to: usize| -> Option<u32> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let separators = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':';
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0, 4),
        digits(5, 7),
        digits(8, 10),
        digits(11, 13),
        digits(14, 16),
        digits(17, 19),
    ) else {
        return false;
    };
    if !separators
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => {
            matches!((digits(s.len() - 5, s.len() - 3), digits(s.len() - 2, s.len())),
                (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::jsonrpc::INVALID_PARAMS;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn message(e: RpcError) -> String {
        assert_eq!(e.code, INVALID_PARAMS);
        e.message
    }

    #[test]
    fn required_strings_name_the_argument() {
        let m = map(json!({"task": "do it", "blank": "  ", "num": 3, "nul": null}));
        let a = Args::new(&m);
        assert_eq!(a.required_str("task"), Ok("do it"));
        assert!(message(a.required_str("missing").unwrap_err()).contains("`missing` is required"));
        assert!(message(a.required_str("blank").unwrap_err()).contains("`blank` must not be empty"));
        assert!(message(a.required_str("num").unwrap_err())
            .contains("`num` must be a string, not a number"));
        assert!(message(a.required_str("nul").unwrap_err()).contains("`nul` is required"));
        assert_eq!(a.present_str("blank"), Ok("  "));
    }

    #[test]
    fn ids_are_trimmed_and_blank_optionals_are_absent() {
        let m = map(json!({"id": " abc ", "empty": "", "bad": ["x"]}));
        let a = Args::new(&m);
        assert_eq!(a.required_id("id"), Ok("abc"));
        assert_eq!(a.optional_str("id"), Ok(Some("abc")));
        assert_eq!(a.optional_str("empty"), Ok(None));
        assert_eq!(a.optional_str("absent"), Ok(None));
        assert!(message(a.optional_str("bad").unwrap_err())
            .contains("`bad` must be a string, not an array"));
    }

    #[test]
    fn numbers_default_clamp_and_refuse_non_numbers() {
        let m = map(json!({
            "big": 1000, "neg": -5, "frac": 7.9, "text": " 12 ", "word": "soon",
            "flag": true, "huge": 1e300,
        }));
        let a = Args::new(&m);
        assert_eq!(a.number("absent", 60, 0, 300), Ok(60));
        assert_eq!(a.number("big", 60, 0, 300), Ok(300));
        assert_eq!(a.number("neg", 60, 0, 300), Ok(0));
        assert_eq!(a.number("frac", 60, 0, 300), Ok(7));
        assert_eq!(a.number("text", 60, 0, 300), Ok(12));
        assert_eq!(a.number("huge", 20, 1, 500), Ok(500));
        assert!(
            message(a.number("word", 60, 0, 300).unwrap_err()).contains("`word` must be a number")
        );
        assert!(a.number("flag", 60, 0, 300).is_err());
    }

    #[test]
    fn objects_and_string_lists() {
        let m =
            map(json!({"card": {"name": "x"}, "list": ["/a", "/b"], "mixed": ["/a", 1], "s": "x"}));
        let a = Args::new(&m);
        assert_eq!(a.object("card").map(|c| c.len()), Ok(1));
        assert!(message(a.object("s").unwrap_err()).contains("`s` must be an object, not a string"));
        assert!(message(a.object("absent").unwrap_err()).contains("`absent` is required"));
        assert_eq!(a.string_list("list"), Ok(vec!["/a", "/b"]));
        assert_eq!(a.string_list("absent"), Ok(vec![]));
        assert!(
            message(a.string_list("mixed").unwrap_err()).contains("`mixed[1]` must be a string")
        );
        assert!(
            message(a.string_list("s").unwrap_err()).contains("`s` must be an array of strings")
        );
    }

    #[test]
    fn scopes_are_a_closed_set() {
        let m = map(json!({"a": "team", "b": "GLOBAL", "c": "PUBLIC", "d": 1}));
        let a = Args::new(&m);
        assert_eq!(a.scope("a"), Ok(Some("TEAM")));
        assert_eq!(a.scope("b"), Ok(Some("GLOBAL")));
        assert_eq!(a.scope("absent"), Ok(None));
        assert!(message(a.scope("c").unwrap_err()).contains("LOCAL, TEAM, GLOBAL"));
        assert!(a.scope("d").is_err());
    }

    #[test]
    fn rfc3339_timestamps() {
        for good in [
            "2026-05-01T12:00:00Z",
            "2026-05-01T12:00:00.123Z",
            "2024-02-29T23:59:60+05:30",
            "2026-05-01t00:00:00.5-08:00",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-05-01",
            "2026-05-01 12:00:00Z",
            "2026-13-01T12:00:00Z",
            "2025-02-29T12:00:00Z",
            "2026-05-01T24:00:00Z",
            "2026-05-01T12:00:00",
            "2026-05-01T12:00:00.Z",
            "2026-05-01T12:00:00+5:30",
            "2026-05-01T12:00:00+05:60",
            "２026-05-01T12:00:00Z",
            "2026-05-01T12:00:00ZZ",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
        let m = map(json!({"ts": "2026-05-01T12:00:00Z", "bad": "now"}));
        let a = Args::new(&m);
        assert_eq!(a.timestamp("ts"), Ok(Some("2026-05-01T12:00:00Z")));
        assert!(message(a.timestamp("bad").unwrap_err()).contains("RFC 3339"));
    }
}

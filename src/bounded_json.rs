//! JSON from the network without a depth limit that the sender controls.
//!
//! serde_json refuses a document nested more than 128 levels, so one deep
//! value anywhere (a peer's message metadata) would make a whole answer
//! unreadable. Here nesting beyond [`MAX_DEPTH`] is skipped instead (the
//! subtree becomes `null`); serde_json skips without recursing, and the
//! bodies read are already capped in size.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Containers deeper than this are replaced by `null`. Far below
/// serde_json's own limit, and far above where any field we read lives.
pub const MAX_DEPTH: usize = 64;

/// Parses `bytes` as one JSON document, pruning nesting beyond [`MAX_DEPTH`].
pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Bounded { depth: MAX_DEPTH }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

pub fn from_str(text: &str) -> serde_json::Result<Value> {
    from_slice(text.as_bytes())
}

/// A value whose containers may nest `depth` more levels.
#[derive(Clone, Copy)]
struct Bounded {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth == 0 {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let inner = Bounded {
            depth: self.depth - 1,
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth == 0 {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let inner = Bounded {
            depth: self.depth - 1,
        };
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn shallow_documents_parse_as_serde_json_does() {
        let text = r#"{"a": [1, -2, 3.5, "x", true, null, {"b": {}}], "c": "\u00e9"}"#;
        assert_eq!(
            from_str(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert!(from_str("[1,").is_err());
        assert!(from_str("{} x").is_err());
        assert!(from_str("").is_err());
    }

    #[test]
    fn deep_nesting_is_pruned_not_refused() {
        assert!(serde_json::from_str::<Value>(&nested(200)).is_err());
        let v = from_str(&format!(r#"{{"keep": "me", "deep": {}}}"#, nested(200_000))).unwrap();
        assert_eq!(v["keep"], "me");
        let mut at = &v["deep"];
        let mut levels = 0;
        while let Value::Array(items) = at {
            at = &items[0];
            levels += 1;
        }
        assert_eq!(levels, MAX_DEPTH - 1);
        assert_eq!(*at, Value::Null);
    }

    #[test]
    fn exactly_max_depth_is_kept() {
        let v = from_str(&nested(MAX_DEPTH)).unwrap();
        let mut at = &v;
        for _ in 0..MAX_DEPTH {
            at = &at[0];
        }
        assert_eq!(*at, json!(1));
    }
}

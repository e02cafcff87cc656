//! Answers too large or too deeply nested to carry: whose they were, so
//! that the call fails at once instead of waiting out its timeout, and the
//! server is not blamed (the call asked for too much).
//!
//! JSON nesting is parsed without serde_json's 128-level limit, which an
//! upstream result may legitimately exceed, but never deeper than
//! [`MAX_DEPTH`]: past that, parsing (and every later walk of the value)
//! could overflow a thread's stack.

use serde_json::Value;

use super::error::CallError;
use crate::mcp::jsonrpc::UNCARRIABLE;

/// The deepest answer carried. Far beyond any real result; shallow enough
/// for the recursive parse, serialization and drop on a 2 MiB stack.
pub const MAX_DEPTH: usize = 1000;

pub enum Parsed {
    Json(Value),
    TooDeep { depth: usize },
    NotJson,
}

/// Parses one line of JSON, nesting up to [`MAX_DEPTH`].
pub fn parse(bytes: &[u8]) -> Parsed {
    let depth = max_depth(bytes);
    if depth > MAX_DEPTH {
        return Parsed::TooDeep { depth };
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    match serde::Deserialize::deserialize(&mut de).and_then(|v: Value| de.end().map(|()| v)) {
        Ok(value) => Parsed::Json(value),
        Err(_) => Parsed::NotJson,
    }
}

/// The error its caller gets for an answer of `server` that could not be
/// carried.
pub fn failure(server: &str, why: &str) -> CallError {
    uncarriable(&format!("of upstream {server} {why}"))
}

/// As [`failure`], where the server's name is not at hand: `why` follows
/// "the answer".
pub fn uncarriable(why: &str) -> CallError {
    CallError::Rpc {
        code: UNCARRIABLE,
        message: format!(
            "the answer {why}, so it was not passed on; the server itself is fine. Ask for less \
             (a smaller page, a narrower query)."
        ),
        data: None,
    }
}

/// Why a parse that was [`Parsed::TooDeep`] failed, after "the answer".
pub fn too_deep(depth: usize) -> String {
    format!("was nested {depth} levels deep, deeper than the {MAX_DEPTH} carried")
}

/// The deepest nesting of arrays and objects, outside strings.
fn max_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The numeric `id` of a JSON-RPC message from the start of its line: the
/// `"id"` key of the outermost object.
pub fn id_from_head(head: &[u8]) -> Option<u64> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < head.len() {
        match head[i] {
            b'"' => {
                let end = string_end(head, i + 1)?;
                if depth == 1 && &head[i + 1..end] == b"id" {
                    if let Some(id) = number_after_colon(head, end + 1) {
                        return Some(id);
                    }
                }
                i = end + 1;
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The `id` from the end of a line whose `id` comes after its result:
/// `..., "id": 7}`. A quoted `\"id\"` inside a string is not a key.
pub fn id_from_tail(tail: &[u8]) -> Option<u64> {
    let at = tail
        .windows(4)
        .rposition(|w| w == b"\"id\"")
        .filter(|&at| at == 0 || tail[at - 1] != b'\\')?;
    let id = number_after_colon(tail, at + 4)?;
    let rest = tail[at + 4..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace() || *b == &b':' || b.is_ascii_digit())
        .copied()
        .collect::<Vec<u8>>();
    matches!(rest.first(), Some(b'}') | Some(b',')).then_some(id)
}

fn string_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn number_after_colon(bytes: &[u8], mut i: usize) -> Option<u64> {
    let skip = |bytes: &[u8], mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = skip(bytes, i);
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    i = skip(bytes, i + 1);
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    std::str::from_utf8(&bytes[start..i]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_at_the_top_level_only() {
        assert_eq!(
            id_from_head(br#"{"jsonrpc":"2.0","id":42,"result":{"#),
            Some(42)
        );
        assert_eq!(id_from_head(br#"{"result":{"id":1,"x":"#), None);
        assert_eq!(id_from_head(br#"{"a":"\"id\":3","id" : 9,"#), Some(9));
        assert_eq!(id_from_tail(br#"aaaa"}]},"id":17}"#), Some(17));
        assert_eq!(
            id_from_tail(br#"aaaa"}]},"id": 17,"jsonrpc":"2.0"}"#),
            Some(17)
        );
        assert_eq!(id_from_tail(br#"text \"id\":5 more"#), None);
    }

    #[test]
    fn nesting_is_bounded_not_limited_to_128() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(matches!(parse(deep(500).as_bytes()), Parsed::Json(_)));
        assert!(matches!(
            parse(deep(MAX_DEPTH + 1).as_bytes()),
            Parsed::TooDeep { .. }
        ));
        assert!(matches!(parse(br#"{"s":"[[[[["}"#), Parsed::Json(_)));
        assert!(matches!(parse(b"{nope"), Parsed::NotJson));
    }
}

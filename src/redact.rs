//! Removes secrets from any text before it is logged or shown.
//!
//! Two nets: patterns that look like credentials wherever they appear
//! (`Bearer ...`, `token=...`, `"token": "..."`, `Authorization: ...`, URL
//! passwords, and the shapes of common API keys: `sk-...`, `ghp_...`,
//! `github_pat_...`, `xoxb-...`, `AKIA...`), and the exact values of every
//! secret this process knows about, registered with [`register_secret`] as
//! soon as they are read. The second net catches a secret quoted somewhere
//! no pattern expects it; it alone is applied to what the agent is sent
//! ([`mask_known`]), where patterns would mangle ordinary content.

use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use crate::sync::lock;

/// What a secret is replaced with.
pub const MASK: &str = "[redacted]";

/// Registered values shorter than this are ignored: masking every "abc" in
/// every log line would destroy the logs and protect nothing.
const MIN_REGISTERED_LEN: usize = 8;

/// Key names whose value is a secret, matched as the end of a key
/// (`auth_token`, `platform_inbound_secret`, `X-Api-Key` ...).
const SECRET_KEYS: &[&str] = &[
    "token", "secret", "password", "passwd", "apikey", "api_key", "api-key",
];

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// [`redact`], then at most `max_chars` characters (with `…` when cut).
/// Redacting before cutting matters: a known secret cut in half no longer
/// matches its registered value.
pub fn clip(text: &str, max_chars: usize) -> String {
    let clean = redact(text);
    let mut out: String = clean.chars().take(max_chars).collect();
    if out.len() < clean.len() {
        out.push('…');
    }
    out
}

/// Remembers a secret value so that [`redact`] masks it wherever it appears.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_REGISTERED_LEN {
        return;
    }
    // As it appears inside a JSON string too (a quote or backslash in it is
    // escaped there), for the lines sent to the agent.
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    let escaped = escaped.trim_matches('"');
    // A panic elsewhere while holding the lock must not disable redaction.
    let mut known = lock(registry());
    for form in [secret, escaped] {
        if !form.is_empty() && !known.iter().any(|k| k == form) {
            known.push(form.to_string());
        }
    }
}

/// Returns `text` with every secret it holds replaced by [`MASK`].
pub fn redact(text: &str) -> String {
    let mut hidden: Vec<Range<usize>> = Vec::new();
    let lower = text.to_ascii_lowercase();
    bearer_values(text, &lower, &mut hidden);
    authorization_values(text, &lower, &mut hidden);
    keyed_values(text, &lower, &mut hidden);
    sk_keys(text, &mut hidden);
    token_shapes(text, &mut hidden);
    url_passwords(text, &mut hidden);
    registered_values(text, &mut hidden);
    if hidden.is_empty() {
        return text.to_string();
    }
    mask(text, hidden)
}

/// Returns `text` with every registered secret replaced by [`MASK`], and
/// nothing else changed: for what goes to the agent (tool results, errors),
/// whose content is not ours to edit beyond our own secrets. A JSON line
/// stays valid JSON: the mask holds no character that needs escaping.
pub fn mask_known(text: &str) -> String {
    let mut hidden = Vec::new();
    registered_values(text, &mut hidden);
    if hidden.is_empty() {
        return text.to_string();
    }
    mask(text, hidden)
}

/// Whether `value` holds something shaped like a well-known credential.
pub fn has_token_shape(value: &str) -> bool {
    let mut hidden = Vec::new();
    sk_keys(value, &mut hidden);
    token_shapes(value, &mut hidden);
    url_passwords(value, &mut hidden);
    !hidden.is_empty()
}

fn mask(text: &str, mut hidden: Vec<Range<usize>>) -> String {
    hidden.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for range in hidden {
        if range.end <= pos {
            continue;
        }
        let start = range.start.max(pos);
        out.push_str(&text[pos..start]);
        out.push_str(MASK);
        pos = range.end;
    }
    out.push_str(&text[pos..]);
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'`')
}

/// Byte offsets of `needle` in `haystack` (both already lower-cased).
fn occurrences<'a>(haystack: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    haystack.match_indices(needle).map(|(i, _)| i)
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
        i += 1;
    }
    i
}

/// `Bearer <value>`: the value runs up to whitespace or a quote.
fn bearer_values(text: &str, lower: &str, hidden: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for at in occurrences(lower, "bearer") {
        if at > 0 && is_word_byte(bytes[at - 1]) {
            continue;
        }
        let after = at + "bearer".len();
        let start = skip_spaces(bytes, after);
        if start == after {
            continue;
        }
        let end = scan(bytes, start, |b| b.is_ascii_whitespace() || is_quote(b));
        if end > start {
            hidden.push(start..end);
        }
    }
}

/// `Authorization: <value>` (also `="..."` and JSON forms): the whole value up
/// to the end of the line or the closing quote, whatever the scheme.
fn authorization_values(text: &str, lower: &str, hidden: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for at in occurrences(lower, "authorization") {
        let key_end = at + "authorization".len();
        if key_end < bytes.len() && is_word_byte(bytes[key_end]) {
            continue;
        }
        let Some(start) = value_start(bytes, key_end, true) else {
            continue;
        };
        let end = if start > 0 && is_quote(bytes[start - 1]) {
            closing_quote(bytes, start, bytes[start - 1])
        } else {
            scan(bytes, start, |b| b == b'\n' || b == b'\r' || is_quote(b))
        };
        if end > start {
            hidden.push(start..end);
        }
    }
}

/// `token=<value>` and `"token": "<value>"` style fields, for every key that
/// ends in one of [`SECRET_KEYS`].
fn keyed_values(text: &str, lower: &str, hidden: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for key in SECRET_KEYS {
        for at in occurrences(lower, key) {
            let key_end = at + key.len();
            // `tokens`, `token_file`: a longer word, not this key.
            if key_end < bytes.len() && is_word_byte(bytes[key_end]) {
                continue;
            }
            let quoted_key = key_end < bytes.len() && is_quote(bytes[key_end]);
            let Some(start) = value_start(bytes, key_end, quoted_key) else {
                continue;
            };
            let end = if start > 0 && is_quote(bytes[start - 1]) {
                closing_quote(bytes, start, bytes[start - 1])
            } else {
                scan(bytes, start, |b| {
                    b.is_ascii_whitespace()
                        || is_quote(b)
                        || matches!(b, b',' | b';' | b'&' | b')' | b'}' | b']' | b'>')
                })
            };
            if end > start {
                hidden.push(start..end);
            }
        }
    }
}

/// Where the value after a key begins: past an optional closing quote of the
/// key, a separator and an optional opening quote. `=` always separates; `:`
/// only when `colon` is allowed, so prose such as "bad token: retry" keeps
/// its words.
fn value_start(bytes: &[u8], key_end: usize, colon: bool) -> Option<usize> {
    let mut i = key_end;
    if i < bytes.len() && is_quote(bytes[i]) {
        i += 1;
    }
    i = skip_spaces(bytes, i);
    match bytes.get(i) {
        Some(b'=') => {}
        Some(b':') if colon => {}
        _ => return None,
    }
    i = skip_spaces(bytes, i + 1);
    if i < bytes.len() && is_quote(bytes[i]) {
        i += 1;
    }
    Some(i)
}

fn scan(bytes: &[u8], start: usize, stop: impl Fn(u8) -> bool) -> usize {
    let mut i = start;
    while i < bytes.len() && !stop(bytes[i]) {
        i += 1;
    }
    i
}

/// End of a quoted value: the next `quote` not escaped by a backslash.
fn closing_quote(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// API keys in the `sk-...` family (`sk-ant-...`, `sk-proj-...`).
fn sk_keys(text: &str, hidden: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for at in occurrences(text, "sk-") {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'-') {
            continue;
        }
        let end = scan(bytes, at + 3, |b| {
            !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if end - (at + 3) >= 8 {
            hidden.push(at..end);
        }
    }
}

/// A key's prefix, its least length after the prefix, and its alphabet.
type Shape = (&'static str, usize, fn(u8) -> bool);

/// Well-known key shapes.
const SHAPES: &[Shape] = &[
    ("ghp_", 20, is_key_byte),
    ("gho_", 20, is_key_byte),
    ("ghu_", 20, is_key_byte),
    ("ghs_", 20, is_key_byte),
    ("ghr_", 20, is_key_byte),
    ("github_pat_", 20, is_key_byte),
    ("xoxa-", 10, is_slack_byte),
    ("xoxb-", 10, is_slack_byte),
    ("xoxp-", 10, is_slack_byte),
    ("xoxr-", 10, is_slack_byte),
    ("xoxs-", 10, is_slack_byte),
    ("AKIA", 16, is_aws_byte),
    ("ASIA", 16, is_aws_byte),
];

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_slack_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn is_aws_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// GitHub, Slack and AWS keys, wherever they appear.
fn token_shapes(text: &str, hidden: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for (prefix, min, alphabet) in SHAPES {
        for at in occurrences(text, prefix) {
            if at > 0 && is_key_byte(bytes[at - 1]) {
                continue;
            }
            let start = at + prefix.len();
            let end = scan(bytes, start, |b| !alphabet(b));
            if end - start >= *min {
                hidden.push(at..end);
            }
        }
    }
}

/// `scheme://user:password@host`: the password.
fn url_passwords(text: &str, hidden: &mut Vec<Range<usize>>) {
    let bytes = text.as_bytes();
    for at in occurrences(text, "://") {
        let start = at + 3;
        let end = scan(bytes, start, |b| {
            b.is_ascii_whitespace() || is_quote(b) || matches!(b, b'/' | b'?' | b'#' | b'@')
        });
        if bytes.get(end) != Some(&b'@') {
            continue;
        }
        if let Some(colon) = bytes[start..end].iter().position(|&b| b == b':') {
            let password = start + colon + 1;
            if end > password {
                hidden.push(password..end);
            }
        }
    }
}

fn registered_values(text: &str, hidden: &mut Vec<Range<usize>>) {
    let known = lock(registry());
    for secret in known.iter() {
        for (at, _) in text.match_indices(secret.as_str()) {
            hidden.push(at..at + secret.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_secrets_is_unchanged() {
        let line = "heartbeat HTTP 503 for workspace 1234: service unavailable";
        assert_eq!(redact(line), line);
        assert_eq!(redact(""), "");
    }

    #[test]
    fn bearer_value_is_masked() {
        assert_eq!(
            redact("sent Authorization-less Bearer abc.def-123 to x"),
            "sent Authorization-less Bearer [redacted] to x"
        );
        assert_eq!(redact("\"bearer  xyz\""), "\"bearer  [redacted]\"");
    }

    #[test]
    fn authorization_header_value_is_masked_to_end_of_line() {
        assert_eq!(
            redact("Authorization: Basic dXNlcjpwYXNz\nnext line"),
            "Authorization: [redacted]\nnext line"
        );
        assert_eq!(
            redact(r#"{"Authorization": "Bearer abc def", "x": 1}"#),
            r#"{"Authorization": "[redacted]", "x": 1}"#
        );
    }

    #[test]
    fn token_query_parameter_is_masked() {
        assert_eq!(
            redact("GET /x?token=s3cr3t&since=5 failed"),
            "GET /x?token=[redacted]&since=5 failed"
        );
        assert_eq!(
            redact("MOLECULE_WORKSPACE_TOKEN=abc123 molecule-mcp"),
            "MOLECULE_WORKSPACE_TOKEN=[redacted] molecule-mcp"
        );
    }

    #[test]
    fn json_secret_fields_are_masked() {
        assert_eq!(
            redact(r#"{"auth_token":"tok-1","platform_inbound_secret": "sec \"q\" x","id":"w"}"#),
            r#"{"auth_token":"[redacted]","platform_inbound_secret": "[redacted]","id":"w"}"#
        );
    }

    #[test]
    fn longer_words_and_prose_are_left_alone() {
        let line = "MOLECULE_WORKSPACE_TOKEN_FILE=/run/tok: bad token: retry; tokens=3";
        assert_eq!(redact(line), line);
    }

    #[test]
    fn sk_keys_are_masked_but_not_ordinary_words() {
        assert_eq!(
            redact("key sk-ant-api03-AbCdEf_123456 used"),
            "key [redacted] used"
        );
        let line = "disk-usage risk-assessment sk-short task-abcdefghijk";
        assert_eq!(redact(line), line);
    }

    #[test]
    fn common_key_shapes_and_url_passwords_are_masked() {
        assert_eq!(
            redact("a ghp_Q1w2E3r4T5y6U7i8O9p0AsDf b github_pat_11ABCDEFG0123456789_abc c"),
            "a [redacted] b [redacted] c"
        );
        assert_eq!(
            redact("xoxb-1234567890-abcdefghijkl AKIAIOSFODNN7EXAMPLE."),
            "[redacted] [redacted]."
        );
        assert_eq!(
            redact("postgres://app:s3cr3t@db/x and https://user@host/ok"),
            "postgres://app:[redacted]@db/x and https://user@host/ok"
        );
        let line = "ghp_short AKIAlower the://path:8080/x";
        assert_eq!(redact(line), line);
        assert!(has_token_shape("ghp_Q1w2E3r4T5y6U7i8O9p0AsDf"));
        assert!(!has_token_shape("/usr/local/bin"));
    }

    #[test]
    fn secrets_are_masked_in_their_json_escaped_form_too() {
        register_secret(r#"pa"ss\word-2718"#);
        let line = serde_json::json!({"text": r#"x pa"ss\word-2718 y"#}).to_string();
        assert_eq!(mask_known(&line), r#"{"text":"x [redacted] y"}"#);
    }

    #[test]
    fn mask_known_changes_only_registered_values() {
        register_secret("known-for-mask-only-3141");
        assert_eq!(
            mask_known(r#"{"text":"token=abc known-for-mask-only-3141"}"#),
            r#"{"text":"token=abc [redacted]"}"#
        );
    }

    #[test]
    fn registered_values_are_masked_anywhere() {
        register_secret("  unusual-registered-value-42 ");
        assert_eq!(
            redact("upstream said unusual-registered-value-42!"),
            "upstream said [redacted]!"
        );
    }

    #[test]
    fn short_registered_values_are_ignored() {
        register_secret("abc");
        assert_eq!(redact("abc abcabc"), "abc abcabc");
    }

    #[test]
    fn overlapping_matches_mask_once() {
        register_secret("overlapping-secret-1");
        assert_eq!(
            redact("Authorization: Bearer overlapping-secret-1"),
            "Authorization: [redacted]"
        );
    }

    #[test]
    fn non_ascii_text_keeps_its_characters() {
        assert_eq!(
            redact("héllo token=välue ünïcode"),
            "héllo token=[redacted] ünïcode"
        );
    }

    #[test]
    fn truncated_inputs_do_not_panic() {
        for text in [
            "token=",
            "Bearer",
            "Bearer ",
            "\"token\":",
            "\"token\": \"abc\\",
            "sk-",
        ] {
            let _ = redact(text);
        }
        assert_eq!(redact("token=\"abc"), "token=\"[redacted]");
    }

    #[test]
    fn large_text_without_secrets_is_fast() {
        let text = "plain log words ".repeat(65_536);
        let started = std::time::Instant::now();
        assert_eq!(redact(&text), text);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

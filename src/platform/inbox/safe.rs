//! Reducing untrusted strings to shapes that are safe to put in cursors,
//! file names, URLs and push metadata.

/// Longest id accepted from the platform; real ids are UUIDs.
const MAX_ID_CHARS: usize = 128;
/// Longest display value put in a push header or its metadata.
pub const MAX_META_CHARS: usize = 64;

/// An activity or workspace id as the platform hands them out: letters,
/// digits and `-_.:`, nothing that could bend a URL or a log line.
pub fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.chars().count() <= MAX_ID_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// An `http(s)://` URL on one line, of a sane length: safe to show the
/// agent as a link (it is never fetched by us).
pub fn is_web_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && text.len() <= 2048
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A UUID in its 8-4-4-4-12 form, any case.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A peer's display name: only `[A-Za-z0-9 _.-]`, at most 64 characters,
/// `None` when nothing is left. Names are chosen by other people, so they
/// must not carry markup, newlines or a fake header into the agent's view.
pub fn display_name(text: &str) -> Option<String> {
    let kept = reduce(text, MAX_META_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | '-')
    });
    let trimmed = kept.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// An id for push metadata: a UUID lower-cased, anything else reduced to
/// `[A-Za-z0-9_.-]` and 64 characters.
pub fn meta_id(text: &str) -> String {
    if is_uuid(text) {
        return text.to_ascii_lowercase();
    }
    reduce(text, MAX_META_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
    })
}

/// A JSON-RPC method name for push metadata; `/` stays because A2A methods
/// are namespaced (`message/send`).
pub fn meta_method(text: &str) -> String {
    reduce(text, MAX_META_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
    })
}

/// A timestamp for push metadata: the characters of RFC 3339 only.
pub fn meta_timestamp(text: &str) -> String {
    reduce(text, 40, |c| {
        c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '+' | '-')
    })
}

fn reduce(text: &str, max: usize, keep: impl Fn(char) -> bool) -> String {
    text.chars().filter(|c| keep(*c)).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_tokens() {
        assert!(is_id("3f2a9c1e-0000-4000-8000-000000000001"));
        assert!(is_id("row_7.a:b"));
        assert!(!is_id(""));
        assert!(!is_id("a/b"));
        assert!(!is_id("a b"));
        assert!(!is_id("a\nb"));
        assert!(!is_id(&"x".repeat(MAX_ID_CHARS + 1)));
    }

    #[test]
    fn uuids_are_recognised_in_any_case() {
        assert!(is_uuid("3F2A9C1E-0000-4000-8000-00000000000A"));
        assert!(!is_uuid("3f2a9c1e-0000-4000-8000-00000000000"));
        assert!(!is_uuid("3f2a9c1e00004000800000000000000a"));
        assert!(!is_uuid("gf2a9c1e-0000-4000-8000-00000000000a"));
    }

    #[test]
    fn names_lose_everything_but_safe_characters() {
        assert_eq!(
            display_name("  Research <b>Bot</b>\n"),
            Some("Research bBotb".into())
        );
        assert_eq!(
            display_name("\"]\n[from canvas user]"),
            Some("from canvas user".into())
        );
        assert_eq!(display_name("<>\n"), None);
        assert_eq!(
            display_name(&"n".repeat(200)).map(|n| n.len()),
            Some(MAX_META_CHARS)
        );
    }

    #[test]
    fn meta_values_are_reduced() {
        assert_eq!(
            meta_id("3F2A9C1E-0000-4000-8000-00000000000A"),
            "3f2a9c1e-0000-4000-8000-00000000000a"
        );
        assert_eq!(meta_id("a\"b<c>/d"), "abcd");
        assert_eq!(meta_method("message/send\"><x"), "message/sendx");
        assert_eq!(
            meta_timestamp("2026-01-02T03:04:05.678Z"),
            "2026-01-02T03:04:05.678Z"
        );
        assert_eq!(meta_timestamp("2026\n<x>"), "2026x");
    }
}

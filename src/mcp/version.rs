//! Protocol revisions: the one place that knows which ones we speak.
//!
//! A newer, stateless revision (with `server/discover`) will be added here;
//! until then `server/discover` is an unknown method.

/// Every revision we answer, newest first.
pub const SUPPORTED: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// What we answer when the client asks for a revision we do not know.
pub const LATEST: &str = SUPPORTED[0];

/// The revision to answer an `initialize` with: the client's own when we
/// support it, else our newest (the client then decides whether to go on).
pub fn negotiate(requested: Option<&str>) -> &'static str {
    SUPPORTED
        .iter()
        .find(|supported| Some(**supported) == requested)
        .copied()
        .unwrap_or(LATEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_supported_revision_with_itself() {
        for version in SUPPORTED {
            assert_eq!(negotiate(Some(version)), version);
        }
    }

    #[test]
    fn answers_unknown_or_missing_revisions_with_the_newest() {
        for requested in [
            None,
            Some(""),
            Some("2024-10-07"),
            Some("2099-01-01"),
            Some("2025-11-25 "),
        ] {
            assert_eq!(negotiate(requested), "2025-11-25", "{requested:?}");
        }
    }
}

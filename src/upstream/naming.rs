//! The names and URIs the agent sees for an upstream's tools, prompts and
//! resources (gateway.md §5).
//!
//! Tool and prompt names are `<server>__<name>`, reduced to
//! `[A-Za-z0-9_.-]` and at most 128 characters. A name that had to be
//! shortened, or that collides with another, ends in `-` and eight hex
//! digits of a hash of the original pair, so the same pair always gets the
//! same name across restarts.
//!
//! Resource URIs are `molecule://<server>/<original URI>`: reversible by
//! text alone, so a read goes to the right server even before any list.

/// Between the server's name and the item's.
pub const SEPARATOR: &str = "__";
/// The longest name hosts accept for a tool.
pub const MAX_NAME: usize = 128;
/// The scheme and authority prefix of an upstream resource's URI.
pub const URI_PREFIX: &str = "molecule://";

/// `<server>__<item>` as offered to the agent.
pub fn exposed(server: &str, item: &str) -> String {
    with_prefix(&prefix(server), server, item)
}

/// `<prefix><item>`, for a server configured with its own `prefix` (already
/// checked to hold only legal characters); shortened like [`exposed`].
pub fn with_prefix(prefix: &str, server: &str, item: &str) -> String {
    let full = format!("{prefix}{}", clean(item));
    if full.len() <= MAX_NAME {
        full
    } else {
        let suffix = tag(server, item);
        let mut short: String = full.chars().take(MAX_NAME - suffix.len()).collect();
        short.push_str(&suffix);
        short
    }
}

/// The alternative name when [`exposed`] collides with another item's: the
/// hash tag replaces the end, so it differs from every plain name.
pub fn disambiguated(server: &str, item: &str) -> String {
    let suffix = tag(server, item);
    let full = format!("{}{SEPARATOR}{}", clean(server), clean(item));
    let mut short: String = full.chars().take(MAX_NAME - suffix.len()).collect();
    short.push_str(&suffix);
    short
}

/// The server part of every name the server's items get.
pub fn prefix(server: &str) -> String {
    format!("{}{SEPARATOR}", clean(server))
}

/// Every character outside `[A-Za-z0-9_.-]` becomes `_`.
pub fn clean(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

fn tag(server: &str, item: &str) -> String {
    format!("-{:08x}", fnv1a(server, item) as u32)
}

/// FNV-1a over the pair (with a separator byte that cannot occur in text),
/// fixed by definition so names stay the same across builds.
fn fnv1a(server: &str, item: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in server.bytes().chain([0xff]).chain(item.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^ (hash >> 32)
}

/// The URI the agent sees for an upstream resource (or the `uriTemplate`
/// of a template).
pub fn expose_uri(server: &str, uri: &str) -> String {
    format!("{URI_PREFIX}{}/{uri}", clean(server))
}

/// The server part and the original URI of an exposed URI, or `None` when
/// the URI is not one of ours.
pub fn split_uri(exposed: &str) -> Option<(&str, &str)> {
    let rest = exposed.strip_prefix(URI_PREFIX)?;
    let (server, uri) = rest.split_once('/')?;
    (!server.is_empty() && !uri.is_empty()).then_some((server, uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legal(name: &str) -> bool {
        name.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    }

    #[test]
    fn plain_names_join_with_two_underscores() {
        assert_eq!(exposed("files", "read_file"), "files__read_file");
        assert_eq!(exposed("a.b-c", "x.y"), "a.b-c__x.y");
    }

    #[test]
    fn illegal_characters_become_underscores() {
        assert_eq!(
            exposed("my server", "tool/with:odd chars"),
            "my_server__tool_with_odd_chars"
        );
        assert_eq!(exposed("", "é"), "____");
        assert!(legal(&exposed("s", "名前")));
    }

    #[test]
    fn long_names_are_shortened_stably_and_stay_distinct() {
        let long_a = "a".repeat(200);
        let mut long_b = "a".repeat(199);
        long_b.push('b');
        let a1 = exposed("srv", &long_a);
        let a2 = exposed("srv", &long_a);
        let b = exposed("srv", &long_b);
        assert_eq!(a1, a2, "stable");
        assert_ne!(a1, b, "distinct despite a common start");
        assert!(legal(&a1) && legal(&b), "{a1} {b}");
        assert_eq!(a1.len(), MAX_NAME);
        assert!(a1.starts_with("srv__aaa"));
        // A name of exactly the limit is left alone.
        let exact = "t".repeat(MAX_NAME - 5);
        assert_eq!(exposed("srv", &exact), format!("srv__{exact}"));
    }

    #[test]
    fn the_hash_is_fixed_by_definition() {
        // If these change, every shortened name an agent has seen changes.
        assert_eq!(tag("srv", "tool"), tag("srv", "tool"));
        assert_ne!(tag("srv", "tool"), tag("srvt", "ool"));
        assert_eq!(tag("srv", "tool"), "-49509ebb");
    }

    #[test]
    fn disambiguated_names_differ_from_plain_ones() {
        let plain = exposed("a__b", "c");
        assert_eq!(plain, exposed("a", "b__c"), "the collision this is for");
        let one = disambiguated("a__b", "c");
        let two = disambiguated("a", "b__c");
        assert_ne!(one, two);
        assert_ne!(one, plain);
        assert!(legal(&one) && legal(&two));
    }

    #[test]
    fn uris_round_trip() {
        for uri in [
            "file:///data/a.txt",
            "db://x/y?q=1#f",
            "plain",
            "https://h/p/",
        ] {
            let exposed = expose_uri("files", uri);
            assert!(exposed.starts_with("molecule://files/"), "{exposed}");
            assert_eq!(split_uri(&exposed), Some(("files", uri)));
        }
        assert_eq!(split_uri("file:///etc/passwd"), None);
        assert_eq!(split_uri("molecule://files"), None);
        assert_eq!(split_uri("molecule:///x"), None);
        assert_eq!(split_uri("molecule://files/"), None);
    }

    #[test]
    fn a_configured_prefix_replaces_the_servers_name() {
        assert_eq!(with_prefix("", "files", "read"), "read");
        assert_eq!(with_prefix("f_", "files", "a b"), "f_a_b");
        assert_eq!(
            with_prefix(&prefix("files"), "files", "read"),
            exposed("files", "read")
        );
        let long = "x".repeat(300);
        assert_eq!(with_prefix("", "files", &long).len(), MAX_NAME);
        assert_ne!(
            with_prefix("", "files", &long),
            with_prefix("", "other", &long),
            "the hash still names the server"
        );
    }

    #[test]
    fn prefixes_name_the_server() {
        assert_eq!(prefix("my srv"), "my_srv__");
        assert!(exposed("my srv", "t").starts_with(&prefix("my srv")));
    }
}

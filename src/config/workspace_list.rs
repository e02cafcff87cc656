//! `MOLECULE_WORKSPACES`: several workspaces in one process, as a JSON array
//! of `{"id", "token", "platform_url"?}`. Every fault in the list is
//! reported, not just the first.

use serde_json::Value;

use super::env::shown;
use super::token::check_token;
use super::{url, workspaces, ConfigError};

const NAME: &str = "MOLECULE_WORKSPACES";
const SHAPE: &str = r#"[{"id": ..., "token": ...}, ...]"#;

/// One valid entry; `platform_url` is already normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub token: String,
    pub platform_url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The entries without faults, in order.
    pub entries: Vec<Entry>,
    /// Whether the array was readable and every object in it names its own
    /// `platform_url`, so `PLATFORM_URL` is not needed.
    pub every_entry_has_url: bool,
}

pub fn parse(text: &str, errors: &mut ConfigError) -> Listing {
    let mut listing = Listing::default();
    let items = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) if !items.is_empty() => items,
        Ok(Value::Array(_)) => {
            errors.problem(format!(
                "{NAME} is an empty array. List at least one workspace: {SHAPE}."
            ));
            return listing;
        }
        Ok(other) => {
            errors.problem(format!(
                "{NAME} must be a JSON array, but it is {}. Use the form {SHAPE}.",
                kind_of(&other)
            ));
            return listing;
        }
        Err(err) => {
            errors.problem(format!(
                "{NAME} is not valid JSON: {err} (line {}, column {}). Use the form {SHAPE}.",
                err.line(),
                err.column()
            ));
            return listing;
        }
    };
    listing.every_entry_has_url = true;
    // Ids of earlier entries, with their index, faulty entries included.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("{NAME}[{index}]");
        let Value::Object(fields) = item else {
            errors.problem(format!(
                "{at} must be an object with \"id\" and \"token\" fields, but it is {}.",
                kind_of(item)
            ));
            continue;
        };
        let id = required_text(fields.get("id"), &format!("{at}.id"), errors)
            .and_then(|id| match workspaces::check_id(&id) {
                Ok(()) => Some(id),
                Err(why) => {
                    errors.problem(format!("{at}.id {} {why}", shown(&id)));
                    None
                }
            })
            .and_then(|id| match seen.iter().find(|(earlier, _)| *earlier == id) {
                Some((_, first)) => {
                    errors.problem(format!(
                        "{at}.id {} repeats the id of {NAME}[{first}]; list each workspace once.",
                        shown(&id)
                    ));
                    None
                }
                None => {
                    seen.push((id.clone(), index));
                    Some(id)
                }
            });
        let token =
            required_text(fields.get("token"), &format!("{at}.token"), errors).and_then(|raw| {
                match check_token(&raw) {
                    Ok(token) => Some(token.to_string()),
                    Err(fault) => {
                        errors.problem(format!(
                            "{at}.token {}. Copy the token again from the canvas Tokens tab.",
                            fault.describe()
                        ));
                        None
                    }
                }
            });
        let platform_url = match entry_url(fields.get("platform_url"), &at, errors) {
            EntryUrl::Absent => {
                listing.every_entry_has_url = false;
                Some(None)
            }
            EntryUrl::Valid(url) => Some(Some(url)),
            EntryUrl::Faulty => None,
        };
        let (Some(id), Some(token), Some(platform_url)) = (id, token, platform_url) else {
            continue;
        };
        listing.entries.push(Entry {
            id,
            token,
            platform_url,
        });
    }
    listing
}

/// A required string field: trimmed, present and not blank.
fn required_text(value: Option<&Value>, at: &str, errors: &mut ConfigError) -> Option<String> {
    match value {
        None | Some(Value::Null) => errors.problem(format!("{at} is missing.")),
        Some(Value::String(s)) if s.trim().is_empty() => errors.problem(format!("{at} is blank.")),
        Some(Value::String(s)) => return Some(s.trim().to_string()),
        Some(other) => errors.problem(format!(
            "{at} must be a string, but it is {}.",
            kind_of(other)
        )),
    }
    None
}

enum EntryUrl {
    /// The entry uses `PLATFORM_URL`.
    Absent,
    Valid(String),
    /// Reported already.
    Faulty,
}

fn entry_url(value: Option<&Value>, at: &str, errors: &mut ConfigError) -> EntryUrl {
    match value {
        None | Some(Value::Null) => EntryUrl::Absent,
        Some(Value::String(s)) if s.trim().is_empty() => EntryUrl::Absent,
        Some(Value::String(s)) => match url::normalise(s) {
            Ok(url) => EntryUrl::Valid(url),
            Err(why) => {
                errors.problem(format!(
                    "{at}.platform_url {} {why}.",
                    shown(&url::without_query(s))
                ));
                EntryUrl::Faulty
            }
        },
        Some(other) => {
            errors.problem(format!(
                "{at}.platform_url must be a string, but it is {}.",
                kind_of(other)
            ));
            EntryUrl::Faulty
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> (Listing, ConfigError) {
        let mut errors = ConfigError::default();
        let listing = parse(text, &mut errors);
        (listing, errors)
    }

    #[test]
    fn valid_list_is_read_in_order() {
        let (listing, errors) = parse_text(
            r#"[{"id": " ws-a ", "token": " tok-a "},
                {"id": "ws-b", "token": "tok-b", "platform_url": "https://b.example/"},
                {"id": "ws-c", "token": "tok-c", "platform_url": " ", "extra": 1}]"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            listing.entries,
            vec![
                Entry {
                    id: "ws-a".into(),
                    token: "tok-a".into(),
                    platform_url: None
                },
                Entry {
                    id: "ws-b".into(),
                    token: "tok-b".into(),
                    platform_url: Some("https://b.example".into())
                },
                Entry {
                    id: "ws-c".into(),
                    token: "tok-c".into(),
                    platform_url: None
                },
            ]
        );
        assert!(!listing.every_entry_has_url);
    }

    #[test]
    fn every_entry_with_its_own_url_is_noticed() {
        let (listing, errors) = parse_text(
            r#"[{"id": "a", "token": "t1", "platform_url": "http://one:1"},
                {"id": "b", "token": "t2", "platform_url": "http://two:2"}]"#,
        );
        assert!(errors.is_empty());
        assert!(listing.every_entry_has_url);
    }

    #[test]
    fn invalid_json_says_where() {
        let (listing, errors) = parse_text("[{\"id\": \"a\",\n \"token\" \"t\"}]");
        assert!(listing.entries.is_empty());
        assert!(!listing.every_entry_has_url);
        assert_eq!(errors.problems.len(), 1);
        assert!(errors.problems[0].contains("MOLECULE_WORKSPACES is not valid JSON"));
        assert!(
            errors.problems[0].contains("line 2, column"),
            "{}",
            errors.problems[0]
        );
    }

    #[test]
    fn wrong_top_level_shapes_are_named() {
        for (text, expect) in [
            ("[]", "empty array"),
            ("{}", "it is an object"),
            ("\"ws\"", "it is a string"),
            ("null", "it is null"),
        ] {
            let (_, errors) = parse_text(text);
            assert_eq!(errors.problems.len(), 1, "{text}");
            assert!(
                errors.problems[0].contains(expect),
                "{text}: {}",
                errors.problems[0]
            );
        }
    }

    #[test]
    fn every_element_fault_is_collected() {
        let (listing, errors) = parse_text(
            r#"[
                "ws-a",
                {"token": "t1"},
                {"id": "  ", "token": "t2"},
                {"id": 7, "token": "t3"},
                {"id": "ok-1", "token": "t4"},
                {"id": "ok-1", "token": "t5"},
                {"id": "ws-x"},
                {"id": "ws-y", "token": "two words"},
                {"id": "ws-z", "token": "t6", "platform_url": "ftp://z"},
                {"id": "ws/../q", "token": "t7"}
            ]"#,
        );
        let text = errors.problems.join("\n");
        for expect in [
            "MOLECULE_WORKSPACES[0] must be an object",
            "MOLECULE_WORKSPACES[1].id is missing",
            "MOLECULE_WORKSPACES[2].id is blank",
            "MOLECULE_WORKSPACES[3].id must be a string",
            "MOLECULE_WORKSPACES[5].id \"ok-1\" repeats the id of MOLECULE_WORKSPACES[4]",
            "MOLECULE_WORKSPACES[6].token is missing",
            "MOLECULE_WORKSPACES[7].token holds whitespace",
            "MOLECULE_WORKSPACES[8].platform_url \"ftp://z\" must start with http:// or https://",
            "MOLECULE_WORKSPACES[9].id \"ws/../q\" must be a workspace id",
        ] {
            assert!(text.contains(expect), "missing {expect:?} in:\n{text}");
        }
        assert_eq!(errors.problems.len(), 9, "{text}");
        assert!(!text.contains("two words"), "a token leaked into: {text}");
        assert_eq!(listing.entries.len(), 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        let (_, errors) = parse_text(&text);
        assert_eq!(errors.problems.len(), 1);
    }
}

//! Which workspaces this process serves, with their URLs and tokens: one from
//! `WORKSPACE_ID` and the token variables, or several from
//! `MOLECULE_WORKSPACES`.

use std::path::Path;

use super::agent_card::CardSettings;
use super::env::{self, shown, Value};
use super::token::{check_token, read_token_file, Token, TokenFault};
use super::{url, workspace_list, ConfigError, EnvMap, Platform, Workspace};

/// Ids go into URL paths, so they are held to what a UUID or a slug uses.
const MAX_ID_LEN: usize = 128;

/// The token file the platform's own workspace containers use.
pub const AUTH_TOKEN_FILE: &str = ".auth_token";

/// A required setting after reading: absent, present but faulty (already
/// reported), or usable.
enum Setting<T> {
    Unset,
    Faulty,
    Good(T),
}

/// Completes a sentence about an id ("must ...") when it cannot be used.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.len() > MAX_ID_LEN {
        return Err(format!("is longer than {MAX_ID_LEN} characters."));
    }
    let starts_well = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let clean = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !starts_well || !clean {
        return Err("must be a workspace id: letters, digits, '-', '_' and '.' only (a UUID from the canvas).".into());
    }
    Ok(())
}

/// The platform side of the configuration, or `None` when faulty (reported).
pub fn resolve(
    env: &EnvMap,
    configs_dir: Option<&Path>,
    card: &CardSettings,
    errors: &mut ConfigError,
) -> Option<Platform> {
    let base = platform_url(env, errors);
    match env::value(env, "MOLECULE_WORKSPACES") {
        Value::Unset => single(env, base, configs_dir, card, errors),
        Value::Text(text) => {
            for ignored in [
                "WORKSPACE_ID",
                "MOLECULE_WORKSPACE_TOKEN",
                "MOLECULE_WORKSPACE_TOKEN_FILE",
            ] {
                if env::value(env, ignored).is_set() {
                    log::warn!("{ignored} is ignored because MOLECULE_WORKSPACES is set");
                }
            }
            multi(&text, base, card, errors)
        }
        Value::NotUtf8 => {
            errors.problem(
                "MOLECULE_WORKSPACES is not valid UTF-8 text. Set it again with plain JSON.",
            );
            None
        }
    }
}

fn platform_url(env: &EnvMap, errors: &mut ConfigError) -> Setting<String> {
    match env::value(env, "PLATFORM_URL") {
        Value::Unset => Setting::Unset,
        Value::NotUtf8 => {
            errors.problem("PLATFORM_URL is not valid UTF-8 text. Set it to your platform's base URL, e.g. https://acme.moleculesai.app.");
            Setting::Faulty
        }
        Value::Text(raw) => match url::normalise(&raw) {
            Ok(url) => Setting::Good(url),
            Err(why) => {
                errors.problem(format!(
                    "PLATFORM_URL {} {why}. Set it to your platform's base URL, e.g. https://acme.moleculesai.app.",
                    shown(&url::without_query(&raw))
                ));
                Setting::Faulty
            }
        },
    }
}

fn single(
    env: &EnvMap,
    base: Setting<String>,
    configs_dir: Option<&Path>,
    card: &CardSettings,
    errors: &mut ConfigError,
) -> Option<Platform> {
    let id = workspace_id(env, errors);
    let token = single_token(env, configs_dir, errors);
    if matches!(id, Setting::Unset) {
        errors.missing("WORKSPACE_ID");
    }
    if matches!(base, Setting::Unset) {
        errors.missing("PLATFORM_URL");
    }
    if matches!(token, Setting::Unset) {
        errors.missing("MOLECULE_WORKSPACE_TOKEN");
    }
    let (Setting::Good(id), Setting::Good(url), Setting::Good(token)) = (id, base, token) else {
        return None;
    };
    let workspace = Workspace {
        agent_card: card.card_for(&id),
        id,
        platform_url: url.clone(),
        token,
    };
    Some(Platform {
        url,
        workspaces: vec![workspace],
        multi: false,
    })
}

fn workspace_id(env: &EnvMap, errors: &mut ConfigError) -> Setting<String> {
    match env::value(env, "WORKSPACE_ID") {
        Value::Unset => Setting::Unset,
        Value::NotUtf8 => {
            errors.problem("WORKSPACE_ID is not valid UTF-8 text. Copy the workspace id from the canvas again.");
            Setting::Faulty
        }
        Value::Text(id) => match check_id(&id) {
            Ok(()) => Setting::Good(id),
            Err(why) => {
                errors.problem(format!("WORKSPACE_ID {} {why}", shown(&id)));
                Setting::Faulty
            }
        },
    }
}

/// `MOLECULE_WORKSPACE_TOKEN`, else `MOLECULE_WORKSPACE_TOKEN_FILE` (any
/// fault there is final: silently using another token would hide it), else
/// `<CONFIGS_DIR>/.auth_token`.
fn single_token(
    env: &EnvMap,
    configs_dir: Option<&Path>,
    errors: &mut ConfigError,
) -> Setting<Token> {
    const FIX: &str = "Copy the token again from the canvas Tokens tab.";
    match env::value(env, "MOLECULE_WORKSPACE_TOKEN") {
        Value::Text(raw) => {
            return match check_token(&raw) {
                Ok(token) => Setting::Good(Token::inline(token)),
                Err(fault) => {
                    errors.problem(format!(
                        "MOLECULE_WORKSPACE_TOKEN {}. {FIX}",
                        fault.describe()
                    ));
                    Setting::Faulty
                }
            };
        }
        Value::NotUtf8 => {
            errors.problem(format!(
                "MOLECULE_WORKSPACE_TOKEN is not valid UTF-8 text. {FIX}"
            ));
            return Setting::Faulty;
        }
        Value::Unset => {}
    }
    if let Some(path) = env::path(env, "MOLECULE_WORKSPACE_TOKEN_FILE") {
        return match read_token_file(&path) {
            Ok(_) => Setting::Good(Token::in_file(path)),
            Err(fault) => {
                errors.problem(format!(
                    "MOLECULE_WORKSPACE_TOKEN_FILE: the token file {} {}. Write exactly one token \
                     (from the canvas Tokens tab) into that file, readable by this process, or fix the path.",
                    path.display(),
                    fault.describe()
                ));
                Setting::Faulty
            }
        };
    }
    let Some(dir) = configs_dir else {
        return Setting::Unset;
    };
    let path = dir.join(AUTH_TOKEN_FILE);
    match read_token_file(&path) {
        Ok(_) => Setting::Good(Token::in_file(path)),
        Err(TokenFault::NotFound) => Setting::Unset,
        Err(fault) => {
            errors.problem(format!(
                "The token file {} (in CONFIGS_DIR) {}. Write exactly one token into it, remove it, \
                 or set MOLECULE_WORKSPACE_TOKEN or MOLECULE_WORKSPACE_TOKEN_FILE.",
                path.display(),
                fault.describe()
            ));
            Setting::Faulty
        }
    }
}

/// `PLATFORM_URL` is needed unless every entry names its own `platform_url`;
/// the platform's URL is then the first workspace's.
fn multi(
    text: &str,
    base: Setting<String>,
    card: &CardSettings,
    errors: &mut ConfigError,
) -> Option<Platform> {
    let before = errors.problems.len();
    let listing = workspace_list::parse(text, errors);
    if matches!(base, Setting::Unset) && !listing.every_entry_has_url {
        errors.missing("PLATFORM_URL");
    }
    if errors.problems.len() != before || matches!(base, Setting::Faulty) {
        return None;
    }
    let base = match base {
        Setting::Good(url) => Some(url),
        _ => None,
    };
    let mut workspaces = Vec::with_capacity(listing.entries.len());
    for entry in listing.entries {
        let platform_url = entry.platform_url.or_else(|| base.clone())?;
        workspaces.push(Workspace {
            agent_card: card.card_for(&entry.id),
            token: Token::inline(entry.token),
            id: entry.id,
            platform_url,
        });
    }
    let url = base.or_else(|| workspaces.first().map(|w| w.platform_url.clone()))?;
    Some(Platform {
        url,
        workspaces,
        multi: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_or_slugs() {
        for good in [
            "00000000-0000-0000-0000-000000000000",
            "ws-abc",
            "a",
            "A1_b.c",
        ] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in ["..", "-x", "a/b", "a b", "a?b", "é", long.as_str()] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}

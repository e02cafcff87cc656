//! `${VAR}` references in a server's settings, resolved from our environment
//! at each (re)connect so that a rotated secret is picked up by the next
//! reconnect.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::fields::shown_key;
use super::server::{check_url, header_value_ok, secret_env, secret_header};
use super::TransportSpec;
use crate::config::EnvMap;
use crate::redact::{has_token_shape, register_secret};
use crate::sync::lock;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Replaces every variable reference in `text`:
/// - `${NAME}` (also written `${env:NAME}`, as some hosts do): the value of
///   `NAME`; unset is an error, an empty value expands to nothing;
/// - `${NAME:-fallback}`: `fallback` (taken literally) when `NAME` is unset
///   or empty;
/// - `$${` is a literal `${`; any other `$` is literal.
///
/// `NAME` is letters, digits and `_`, not starting with a digit. Errors name
/// the variable, never a value.
pub fn expand(text: &str, env: &EnvMap) -> Result<String, String> {
    substitute(text, env, &mut |_, _| {})
}

/// [`expand`] for a value that reaches a server (arguments, environment,
/// URL): every value taken from a variable is registered with the
/// redactor, since the server may echo it to its stderr, an error text or
/// a result, and a variable's name says little (`${GH_PAT}`, `${DB_PASS}`).
/// Only well-known plain variables (`${HOME}`, `${USER}`, ...) are not, or
/// every log line quoting them would be masked, and neither are paths
/// (`${DATA_DIR}`); short values are ignored by the redactor anyway.
fn expand_secret(text: &str, env: &EnvMap) -> Result<String, String> {
    substitute(text, env, &mut |name, value| {
        if !plain_env(name) && !is_path(value) {
            register_secret(value)
        }
    })
}

/// An absolute path with nothing in it that could carry a credential.
fn is_path(value: &str) -> bool {
    value.starts_with('/') && !value.contains([':', '@', '?', '=', ' '])
}

/// Variables that never hold a credential.
fn plain_env(name: &str) -> bool {
    const PLAIN: [&str; 12] = [
        "HOME", "PATH", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TMPDIR", "PWD", "SHELL",
        "TZ", "HOSTNAME",
    ];
    PLAIN.contains(&name) || name.starts_with("LC_") || name.starts_with("XDG_")
}

/// Headers that never carry a credential.
fn plain_header(name: &str) -> bool {
    const PLAIN: [&str; 6] = [
        "accept",
        "accept-language",
        "content-type",
        "user-agent",
        "mcp-protocol-version",
        "cache-control",
    ];
    PLAIN.contains(&name.to_ascii_lowercase().as_str())
}

/// Arguments are world-readable in `/proc/<pid>/cmdline`: a credential
/// expanded into one is warned about (once per variable), and the README
/// recommends `env`.
fn warn_credential_in_args(arg: &str, env: &EnvMap) {
    static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let _ = substitute(arg, env, &mut |name, value| {
        let named = secret_env(name) || ["PAT", "PASS"].iter().any(|w| name.contains(w));
        if !named && !has_token_shape(value) {
            return;
        }
        let mut warned = lock(&WARNED);
        if warned.insert(name.to_string()) {
            log::warn!(
                "an upstream server's args hold the value of ${{{name}}}, which looks like a                  credential: every local user can read a process's arguments in                  /proc/<pid>/cmdline. Pass it in the server's \"env\" instead."
            );
        }
    });
}

/// [`expand`], telling `seen` each variable name and value taken from the
/// environment.
fn substitute(
    text: &str,
    env: &EnvMap,
    seen: &mut dyn FnMut(&str, &str),
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err("\"${\" without a closing \"}\"".into());
            };
            out.push_str(&reference(&after[..end], env, seen)?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn reference(
    inner: &str,
    env: &EnvMap,
    seen: &mut dyn FnMut(&str, &str),
) -> Result<String, String> {
    let inner = inner.strip_prefix("env:").unwrap_or(inner);
    let (name, fallback) = match inner.split_once(":-") {
        Some((name, fallback)) => (name, Some(fallback)),
        None => (inner, None),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(
            "a \"${...}\" reference must name a variable: letters, digits and '_' (write \"$${\" for a literal \"${\")"
                .into(),
        );
    }
    match env.get(name) {
        None => fallback
            .map(str::to_string)
            .ok_or_else(|| format!("variable {name} is not set")),
        Some(value) => match value.to_str() {
            None => Err(format!("variable {name} is not valid UTF-8")),
            Some("") => Ok(fallback.unwrap_or_default().to_string()),
            Some(value) => {
                seen(name, value);
                Ok(value.to_string())
            }
        },
    }
}

impl TransportSpec {
    /// The spec with every `${VAR}` resolved (stdio: command, args, env
    /// values, cwd; HTTP: url and header values), and the url and headers
    /// checked again now that they are final. Errors say where:
    /// `args[1]: variable FOO is not set`.
    ///
    /// Values that look like credentials (header values of `Authorization`
    /// and the like, anything substituted into a header, environment
    /// entries named like `*_TOKEN`) are registered with the redactor, so
    /// that no later log line can show them.
    pub fn expanded(&self, env: &EnvMap) -> Result<TransportSpec, String> {
        let at = |place: String| move |e: String| format!("{place}: {e}");
        match self {
            TransportSpec::Stdio {
                command,
                args,
                env: child_env,
                cwd,
            } => {
                let command = expand_secret(command, env).map_err(at("command".into()))?;
                for arg in args {
                    warn_credential_in_args(arg, env);
                }
                let args = args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| expand_secret(a, env).map_err(at(format!("args[{i}]"))))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut expanded_env = BTreeMap::new();
                for (name, value) in child_env {
                    let value = expand_secret(value, env)
                        .map_err(at(format!("env.{}", shown_key(name))))?;
                    if secret_env(name) {
                        register_secret(&value);
                    }
                    expanded_env.insert(name.clone(), value);
                }
                let cwd = match cwd {
                    Some(dir) => Some(match dir.to_str() {
                        Some(text) => PathBuf::from(expand(text, env).map_err(at("cwd".into()))?),
                        None => dir.clone(),
                    }),
                    None => None,
                };
                Ok(TransportSpec::Stdio {
                    command,
                    args,
                    env: expanded_env,
                    cwd,
                })
            }
            TransportSpec::Http { url, headers } => {
                let url = expand_secret(url, env).map_err(at("url".into()))?;
                check_url(&url)?;
                let mut expanded_headers = BTreeMap::new();
                for (name, value) in headers {
                    let value = substitute(value, env, &mut |_, v| register_secret(v))
                        .map_err(at(format!("headers.{name}")))?;
                    header_value_ok(&value).map_err(|e| format!("headers.{name} {e}"))?;
                    // Any header may carry a credential (`X-Custom: ...`).
                    if secret_header(name) || !plain_header(name) {
                        register_secret(secret_part(&value));
                        register_secret(&value);
                    }
                    expanded_headers.insert(name.clone(), value);
                }
                Ok(TransportSpec::Http {
                    url,
                    headers: expanded_headers,
                })
            }
        }
    }
}

/// `Bearer abc` → `abc`: the scheme word is no secret, and registering the
/// whole value would miss the token quoted on its own.
fn secret_part(value: &str) -> &str {
    match value.trim().split_once(' ') {
        Some((_, credential)) => credential.trim(),
        None => value.trim(),
    }
}

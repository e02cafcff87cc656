//! The platform base URL: normalised once at load so every request, path and
//! `Origin` header is built from the same value.

/// Far beyond any real tenant URL; a longer value is a paste gone wrong.
const MAX_URL_LEN: usize = 2048;

/// Strips whitespace and trailing `/`, lower-cases the scheme, and checks
/// that what is left is an `http://` or `https://` URL with a host. The error
/// completes a sentence about the value ("must ...").
pub fn normalise(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.len() > MAX_URL_LEN {
        return Err(format!("is longer than {MAX_URL_LEN} characters"));
    }
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err("must start with http:// or https://".into());
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("must start with http:// or https://".into());
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    if rest.contains(['?', '#']) {
        return Err("must be a base URL, without ?query or #fragment".into());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry credentials (user:password@); the token goes in MOLECULE_WORKSPACE_TOKEN".into());
    }
    check_authority(authority)?;
    Ok(format!("{scheme}://{rest}"))
}

/// `raw` without its `?query` and `#fragment`, for quoting in an error:
/// they may hold keys (`?sig=...`), and the problem is never in them alone.
pub fn without_query(raw: &str) -> String {
    let trimmed = raw.trim();
    match trimmed.find(['?', '#']) {
        Some(at) => format!("{}?…", &trimmed[..at]),
        None => trimmed.to_string(),
    }
}

fn check_authority(authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Err("has an unclosed [ in its host".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("must name a host, e.g. https://acme.moleculesai.app".into());
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err("has an invalid port".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_urls_lose_query_and_fragment() {
        assert_eq!(without_query(" https://a/b?k=v#f "), "https://a/b?…");
        assert_eq!(without_query("https://a/b#f?x"), "https://a/b?…");
        assert_eq!(without_query("https://a/b"), "https://a/b");
    }

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            (
                "https://acme.moleculesai.app",
                "https://acme.moleculesai.app",
            ),
            (
                "  https://acme.moleculesai.app/ \n",
                "https://acme.moleculesai.app",
            ),
            ("http://localhost:8080//", "http://localhost:8080"),
            (
                "HTTPS://Acme.example/tenant/",
                "https://Acme.example/tenant",
            ),
            ("http://127.0.0.1:1", "http://127.0.0.1:1"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalise(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_what_cannot_be_a_base_url() {
        for raw in [
            "acme.moleculesai.app",
            "ftp://acme.example",
            "ws://acme.example",
            "https://",
            "https:///path",
            "http://:8080",
            "http://host:",
            "http://host:99999",
            "http://host:80a",
            "http://host/a b",
            "http://host/?x=1",
            "http://host/#top",
            "http://user:pw@host",
            "http://[::1",
            "",
            format!("https://{}", "a".repeat(1 << 20)).as_str(),
        ] {
            assert!(normalise(raw).is_err(), "{raw} should be refused");
        }
    }
}

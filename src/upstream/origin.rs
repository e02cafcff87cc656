//! Where a URL points (scheme, host, port) and where a redirect leads: the
//! configured headers (credentials, typically) go only to the origin they
//! were configured for.

use ureq::http::Uri;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// `None` for anything but an absolute http(s) URL with a host.
    pub fn of(url: &str) -> Option<Origin> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = uri.host()?.to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        Some(Origin {
            port: uri.port_u16().unwrap_or(default_port),
            scheme,
            host,
        })
    }
}

/// The absolute URL a `Location` header names, relative to `base`.
pub fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    if Origin::of(location).is_some() {
        return Some(location.to_string());
    }
    let uri: Uri = base.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?.as_str();
    let resolved = if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = uri.path();
        let dir = &path[..path.rfind('/').map_or(0, |at| at + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    Origin::of(&resolved).map(|_| resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_and_case_do_not_make_a_new_origin() {
        assert_eq!(
            Origin::of("http://Example.com/mcp"),
            Origin::of("http://example.com:80/x")
        );
        assert_ne!(
            Origin::of("http://example.com/"),
            Origin::of("https://example.com/")
        );
        assert_ne!(
            Origin::of("http://127.0.0.1:1/"),
            Origin::of("http://127.0.0.1:2/")
        );
        assert_eq!(Origin::of("ftp://example.com/"), None);
        assert_eq!(Origin::of("not a url"), None);
        assert_eq!(Origin::of("/relative"), None);
    }

    #[test]
    fn locations_resolve_against_the_request_url() {
        let base = "http://h:8/a/mcp?x=1";
        assert_eq!(resolve(base, "https://o/p").as_deref(), Some("https://o/p"));
        assert_eq!(resolve(base, "//o:9/p").as_deref(), Some("http://o:9/p"));
        assert_eq!(resolve(base, "/mcp/").as_deref(), Some("http://h:8/mcp/"));
        assert_eq!(resolve(base, "next").as_deref(), Some("http://h:8/a/next"));
        assert_eq!(resolve(base, "   "), None);
    }
}

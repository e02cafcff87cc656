//! Host resolution for every HTTP client of ours (the platform's and the
//! upstreams'). A host given as an IP address is used as it is; names go to
//! ureq's resolver. That one, given a timeout (every request of ours has
//! one), looks each new connection's host up on a thread of its own, even
//! `127.0.0.1` where there is nothing to look up: a thread and its stack
//! per connection for nothing.

use std::net::{IpAddr, SocketAddr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

#[derive(Debug, Default)]
pub struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal_address(uri) {
            Some(address) => {
                let mut addresses = self.empty();
                addresses.push(address);
                Ok(addresses)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of a URI whose host is an IP address.
fn literal_address(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let ip: IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("http")) => 80,
        (None, Some("https")) => 443,
        (None, _) => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(url: &str) -> Option<SocketAddr> {
        literal_address(&url.parse::<Uri>().ok()?)
    }

    #[test]
    fn addresses_in_the_url_are_taken_as_they_are_and_names_are_not() {
        assert_eq!(
            of("http://127.0.0.1:8080/mcp"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            of("https://10.0.0.2/"),
            Some("10.0.0.2:443".parse().unwrap())
        );
        assert_eq!(of("http://[::1]:9/mcp"), Some("[::1]:9".parse().unwrap()));
        assert_eq!(of("http://[::1]/"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(of("ftp://10.0.0.2/"), None);
        assert_eq!(of("http://localhost:8080/"), None);
        assert_eq!(of("https://acme.moleculesai.app/registry"), None);
    }
}

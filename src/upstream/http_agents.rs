//! The HTTP clients of the Streamable HTTP transport. Their connection
//! buffers are most of what an idle HTTP upstream costs: each open
//! connection holds an input and an output buffer of the sizes below,
//! filled on first use. Bodies of any size stream through them; the input
//! buffer also bounds the answer's header, the output buffer the longest
//! line of our request's header (a configured header included).

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use ureq::config::{Config, ConfigBuilder};
use ureq::http::Uri;
use ureq::typestate::AgentScope;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// ureq's default is 128 KiB per buffer; 16 KiB still takes an answer
/// header far beyond what servers send.
const INPUT_BUFFER: usize = 16 * 1024;
/// A header line as long as common servers take at all (8 KiB).
const OUTPUT_BUFFER: usize = 8 * 1024;
/// A GET stream's answer header is a few lines; its events stream through.
const STREAM_INPUT_BUFFER: usize = 8 * 1024;

/// The agent of one server's POSTs and DELETE: its pool keeps that
/// server's connection open between calls.
pub fn for_requests() -> ureq::Agent {
    agent(
        common()
            .input_buffer_size(INPUT_BUFFER)
            .max_response_header_size(INPUT_BUFFER)
            .build(),
    )
}

/// The agent of every server's GET streams (the session's stream, resumed
/// answers). One for all: a stream's connection is never pooled (it lives
/// as long as its stream), and nothing in its settings depends on the
/// server, so sharing it costs nothing and keeps one TLS set-up for all.
pub fn for_streams() -> &'static ureq::Agent {
    static STREAMS: OnceLock<ureq::Agent> = OnceLock::new();
    STREAMS.get_or_init(|| {
        agent(
            common()
                .input_buffer_size(STREAM_INPUT_BUFFER)
                .max_response_header_size(STREAM_INPUT_BUFFER)
                .max_idle_connections(0)
                .build(),
        )
    })
}

fn common() -> ConfigBuilder<AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("molecule-mcp/", env!("CARGO_PKG_VERSION")))
        .output_buffer_size(OUTPUT_BUFFER)
}

fn agent(config: Config) -> ureq::Agent {
    ureq::Agent::with_parts(config, DefaultConnector::new(), Literal::default())
}

/// Takes an IP address in the URL as it is. ureq's own resolver, given a
/// timeout (every request of ours has one), starts a thread for each new
/// connection to wait for the lookup, an address included: a thread and
/// its stack per connection for nothing. Host names still go to it.
#[derive(Debug, Default)]
struct Literal(DefaultResolver);

impl Resolver for Literal {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal(uri) {
            Some(address) => {
                let mut addresses = self.empty();
                addresses.push(address);
                Ok(addresses)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of a URL whose host is an IP address.
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(url: &str) -> Option<SocketAddr> {
        literal(&url.parse::<Uri>().ok()?)
    }

    #[test]
    fn addresses_in_the_url_are_taken_as_they_are_and_names_are_not() {
        assert_eq!(
            of("http://127.0.0.1:8080/mcp"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            of("https://10.1.2.3/mcp"),
            Some("10.1.2.3:443".parse().unwrap())
        );
        assert_eq!(of("http://[::1]:9/mcp"), Some("[::1]:9".parse().unwrap()));
        assert_eq!(of("http://[::1]/"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(of("http://localhost:8080/mcp"), None);
        assert_eq!(of("https://example.com/mcp"), None);
    }
}

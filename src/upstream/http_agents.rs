//! The HTTP clients of the Streamable HTTP transport. Their connection
//! buffers are most of what an idle HTTP upstream costs: each open
//! connection holds an input and an output buffer of the sizes below,
//! filled on first use. Bodies of any size stream through them; the input
//! buffer also bounds the answer's header, the output buffer the longest
//! line of our request's header (a configured header included).

use std::sync::OnceLock;

use ureq::config::{Config, ConfigBuilder};
use ureq::typestate::AgentScope;
use ureq::unversioned::transport::DefaultConnector;

use crate::resolver::LiteralFirst;

/// ureq's default is 128 KiB per buffer; 16 KiB still takes an answer
/// header far beyond what servers send.
const INPUT_BUFFER: usize = 16 * 1024;
/// A header line as long as common servers take at all (8 KiB).
const OUTPUT_BUFFER: usize = 8 * 1024;
/// The longest request line or header line, CRLF excluded, that fits the
/// output buffer: ureq-proto writes each line whole or fails, and the last
/// header line carries the blank line that ends the head (4 bytes in all).
pub const MAX_HEAD_LINE: usize = OUTPUT_BUFFER - 4;
/// A GET stream's answer header is a few lines; its events stream through.
/// This buffer is also that header's real bound: ureq reads a header whole
/// into the input buffer, so a larger `max_response_header_size` alone
/// would accept nothing more.
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
    ureq::Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default())
}

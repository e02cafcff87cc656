//! The platform simulator as a program, for running molecule-mcp by hand:
//!
//! ```text
//! cargo run --example simulator -- --port 0 --workspace ID[:TOKEN]...
//! ```
//!
//! The first stdout line is the URL to use as `PLATFORM_URL`. It serves
//! until stdin closes or it is killed; each request is logged to stderr.

#[path = "../support/sim/mod.rs"]
mod sim;

use std::io::{self, Write};
use std::process::ExitCode;

use argh::FromArgs;

/// Run the Molecule platform simulator on 127.0.0.1.
#[derive(FromArgs)]
struct Args {
    /// port to listen on; 0 picks a free one
    #[argh(option, default = "0")]
    port: u16,

    /// a workspace to serve, as ID or ID:TOKEN (repeatable); without a token
    /// its first registration mints one
    #[argh(option)]
    workspace: Vec<String>,

    /// do not log requests to stderr
    #[argh(switch)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    let simulator = match sim::Simulator::start_on(args.port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("simulator: cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::from(1);
        }
    };
    for spec in &args.workspace {
        let (id, token) = match spec.split_once(':') {
            Some((id, token)) => (id, Some(token).filter(|t| !t.is_empty())),
            None => (spec.as_str(), None),
        };
        if id.is_empty() {
            eprintln!("simulator: --workspace needs an id, got {spec:?}");
            return ExitCode::from(2);
        }
        simulator.add_workspace(id, token);
    }
    simulator.set_log_requests(!args.quiet);

    let mut out = io::stdout();
    if writeln!(out, "{}", simulator.url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    // Serve until whoever started us closes our stdin.
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    drop(simulator);
    ExitCode::SUCCESS
}

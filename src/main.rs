//! `molecule-mcp`: arguments, logging and configuration, then the server or
//! the doctor. Configuration faults exit 2 here, before anything starts.

use std::io::{self, Write};

use molecule_mcp::cli::{self, Command};
use molecule_mcp::{app, config, logging};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let args: Vec<_> = std::env::args_os().collect();
    let invocation = match cli::parse(&args) {
        Ok(invocation) => invocation,
        Err(early) => {
            if early.to_stdout() {
                write_out(&mut io::stdout(), early.text());
            } else {
                write_out(&mut io::stderr(), early.text());
            }
            return early.code();
        }
    };
    let env = config::env_from_process();
    logging::init(config::verbose(&env));
    let config = match config::load(&env, invocation.servers) {
        Ok(config) => config,
        Err(err) => {
            write_out(&mut io::stderr(), &format!("{}\n", err.render()));
            return 2;
        }
    };
    match invocation.command {
        Command::Serve => app::run(config),
        Command::Doctor => app::doctor(config),
    }
}

/// Writes and flushes, ignoring failure: a closed pipe (`--help | head`)
/// must not turn into a panic.
fn write_out(out: &mut dyn Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

//! `molecule-mcp`: arguments, logging and configuration, then the server or
//! the doctor. Configuration faults exit 2 here, before anything starts.

use std::io::{self, Write};

use molecule_mcp::cli::{self, Command};
use molecule_mcp::{app, config, logging};

fn main() {
    limit_malloc_arenas();
    std::process::exit(run());
}

/// glibc gives each thread that allocates its own malloc arena (up to
/// eight per core), each with its own touched pages. Our threads are many
/// (one or two per workspace and per upstream) and mostly idle, so two
/// arenas serve them all and keep memory flat as workspaces are added.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
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

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

/// How often memory freed inside the malloc arenas is handed back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// glibc keeps memory a long-running server frees inside its arenas, and
/// the chunks freed by many short-lived calls are scattered, so only a
/// small part is ever returned at the top of a heap: measured over a soak,
/// the bytes in use stayed flat while the arenas' free bytes (and so RSS)
/// kept creeping up. `malloc_trim` also releases free pages in the middle
/// of every arena; a few microseconds every half minute keep RSS near what
/// is in use.
fn return_freed_memory_periodically() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .stack_size(64 * 1024)
            .spawn(|| loop {
                std::thread::sleep(TRIM_EVERY);
                // SAFETY: malloc_trim only releases free memory; it takes
                // the arenas' own locks.
                unsafe {
                    libc::malloc_trim(0);
                }
            });
        if let Err(e) = spawned {
            log::debug!("memory trimming is off: cannot start its thread ({e})");
        }
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
        Command::Serve => {
            return_freed_memory_periodically();
            app::run(config)
        }
        Command::Doctor => app::doctor(config),
    }
}

/// Writes and flushes, ignoring failure: a closed pipe (`--help | head`)
/// must not turn into a panic.
fn write_out(out: &mut dyn Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

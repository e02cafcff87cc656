//! The command line: `molecule-mcp [--servers PATH] [doctor]`.
//!
//! Parsing never exits the process itself (argh's `from_env` would, with
//! code 1); it returns what to print and the exit code, so usage errors
//! exit 2 like every other configuration fault.

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use crate::config;

const NAME: &str = "molecule-mcp";

#[derive(FromArgs)]
/// Connects an AI agent to the Molecule platform and to its other MCP
/// servers, over one MCP connection on stdin/stdout. Configured through
/// environment variables (below).
struct TopLevel {
    /// upstream MCP servers file (JSON with "mcpServers"); overrides
    /// MOLECULE_MCP_SERVERS
    #[argh(option, arg_name = "path")]
    servers: Option<String>,

    /// print the version and exit
    #[argh(switch)]
    version: bool,

    #[argh(subcommand)]
    command: Option<SubCommand>,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum SubCommand {
    Doctor(DoctorArgs),
}

#[derive(FromArgs)]
/// Check the configuration, the platform and every upstream server; one line
/// per check, exit 1 when any fails.
#[argh(subcommand, name = "doctor")]
struct DoctorArgs {
    /// upstream MCP servers file; overrides MOLECULE_MCP_SERVERS
    #[argh(option, arg_name = "path")]
    servers: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Serve MCP on stdio.
    Serve,
    Doctor,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    /// `--servers`; the environment is consulted later, by the config.
    pub servers: Option<PathBuf>,
}

/// The command line asked for something other than running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EarlyExit {
    /// `--help`: stdout, exit 0.
    Help(String),
    /// `--version`: stdout, exit 0.
    Version(String),
    /// A usage error: stderr, exit 2.
    Usage(String),
}

impl EarlyExit {
    pub fn code(&self) -> i32 {
        match self {
            EarlyExit::Help(_) | EarlyExit::Version(_) => 0,
            EarlyExit::Usage(_) => 2,
        }
    }

    /// Help and version go to stdout: no protocol runs when they are asked.
    pub fn to_stdout(&self) -> bool {
        self.code() == 0
    }

    pub fn text(&self) -> &str {
        match self {
            EarlyExit::Help(text) | EarlyExit::Version(text) | EarlyExit::Usage(text) => text,
        }
    }
}

/// `--version`: the version and the commit it was built from (build.rs).
fn version_line() -> String {
    format!(
        "{NAME} {} (commit {})\n",
        env!("CARGO_PKG_VERSION"),
        env!("MOLECULE_MCP_COMMIT")
    )
}

/// Parses the full argument list (program name first, then arguments).
pub fn parse(args: &[OsString]) -> Result<Invocation, EarlyExit> {
    let mut texts = Vec::with_capacity(args.len());
    for arg in args.iter().skip(1) {
        match arg.to_str() {
            Some(text) => texts.push(text),
            None => {
                return Err(EarlyExit::Usage(format!(
                    "{NAME}: the argument {:?} is not valid UTF-8.\n{}",
                    arg.to_string_lossy(),
                    more_help()
                )))
            }
        }
    }
    let parsed = TopLevel::from_args(&[NAME], &texts).map_err(|early| match early.status {
        Ok(()) => EarlyExit::Help(format!(
            "{}\n\n{}\n",
            early.output.trim_end(),
            config::HELP_ENVIRONMENT
        )),
        Err(()) => EarlyExit::Usage(format!("{}\n{}", early.output.trim_end(), more_help())),
    })?;
    if parsed.version {
        return Err(EarlyExit::Version(version_line()));
    }
    let (command, servers) = match parsed.command {
        None => (Command::Serve, parsed.servers),
        Some(SubCommand::Doctor(doctor)) => (Command::Doctor, doctor.servers.or(parsed.servers)),
    };
    let servers = match servers {
        Some(path) if path.trim().is_empty() => {
            return Err(EarlyExit::Usage(format!(
                "{NAME}: --servers needs a file path.\n{}",
                more_help()
            )))
        }
        other => other.map(PathBuf::from),
    };
    Ok(Invocation { command, servers })
}

fn more_help() -> String {
    format!("Run {NAME} --help for more information.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Invocation, EarlyExit> {
        let all: Vec<OsString> = std::iter::once(NAME)
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        parse(&all)
    }

    #[test]
    fn no_arguments_serves() {
        assert_eq!(
            run(&[]),
            Ok(Invocation {
                command: Command::Serve,
                servers: None
            })
        );
        assert_eq!(parse(&[]).map(|i| i.command), Ok(Command::Serve));
    }

    #[test]
    fn servers_flag_and_doctor() {
        assert_eq!(
            run(&["--servers", "/s.json"]),
            Ok(Invocation {
                command: Command::Serve,
                servers: Some("/s.json".into())
            })
        );
        assert_eq!(
            run(&["doctor"]),
            Ok(Invocation {
                command: Command::Doctor,
                servers: None
            })
        );
        assert_eq!(
            run(&["--servers", "/a.json", "doctor", "--servers", "/b.json"]).map(|i| i.servers),
            Ok(Some("/b.json".into()))
        );
        assert_eq!(
            run(&["--servers", "/a.json", "doctor"]).map(|i| i.servers),
            Ok(Some("/a.json".into()))
        );
    }

    #[test]
    fn help_lists_environment_and_exits_zero() {
        let early = run(&["--help"]).unwrap_err();
        assert_eq!(early.code(), 0);
        assert!(early.to_stdout());
        for word in [
            "--servers",
            "doctor",
            "WORKSPACE_ID",
            "MOLECULE_WORKSPACE_TOKEN_FILE",
            "Tokens tab",
        ] {
            assert!(early.text().contains(word), "help lacks {word}");
        }
        assert_eq!(run(&["doctor", "--help"]).unwrap_err().code(), 0);
    }

    #[test]
    fn version_prints_package_version() {
        let early = run(&["--version"]).unwrap_err();
        let prefix = format!("molecule-mcp {} (commit ", env!("CARGO_PKG_VERSION"));
        assert!(
            matches!(&early, EarlyExit::Version(text) if text.starts_with(&prefix) && text.ends_with(")\n")),
            "{early:?}"
        );
    }

    #[test]
    fn usage_errors_exit_two() {
        for args in [
            &["--bogus"][..],
            &["serve-please"],
            &["--servers"],
            &["--servers", " "],
            &["doctor", "extra"],
        ] {
            let early = run(args).unwrap_err();
            assert_eq!(early.code(), 2, "{args:?}");
            assert!(!early.to_stdout());
            assert!(
                early.text().contains("--help"),
                "{args:?}: {}",
                early.text()
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_argument_is_a_usage_error() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![OsString::from(NAME), OsString::from_vec(vec![b'-', 0xff])];
        let early = parse(&args).unwrap_err();
        assert_eq!(early.code(), 2);
        assert!(early.text().contains("not valid UTF-8"));
    }
}

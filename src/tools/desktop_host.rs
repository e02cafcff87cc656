//! The local desktop the `desktop_*` tools drive: the X display in
//! `DISPLAY`, `xdotool`, and optionally a screenshot program and
//! `xdg-open`, all found on `PATH` once at start. Programs run with an argv
//! (never a shell), a small environment, no stdin and a time limit.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::EnvMap;

/// A desktop program that has not finished by then is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(15);
/// What is kept of a program's stdout or stderr.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Screenshot programs, in order of preference, with the arguments that
/// write the whole screen to the path given last.
pub const SCREENSHOTTERS: [(&str, &[&str]); 3] = [
    ("maim", &[]),
    ("scrot", &["--overwrite"]),
    ("import", &["-window", "root"]),
];

/// Variables a desktop program gets (with `DISPLAY`); never our tokens.
const PASSED_VARIABLES: [&str; 7] = [
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "XAUTHORITY",
    "XDG_RUNTIME_DIR",
];

#[derive(Clone, Debug)]
pub struct Desktop {
    pub display: String,
    pub xdotool: PathBuf,
    /// The screenshot program and its leading arguments.
    pub screenshot: Option<(PathBuf, &'static [&'static str])>,
    pub opener: Option<PathBuf>,
    env: Vec<(String, std::ffi::OsString)>,
}

/// What a finished program said.
pub struct Output {
    pub stdout: String,
}

impl Desktop {
    /// The desktop, when `DISPLAY` is set and `xdotool` is on `PATH`.
    pub fn detect(env: &EnvMap) -> Option<Desktop> {
        let display = env
            .get("DISPLAY")
            .map(|d| d.to_string_lossy().trim().to_string())
            .filter(|d| !d.is_empty())?;
        let path = env.get("PATH").cloned().unwrap_or_default();
        let find = |name: &str| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| is_executable(p))
        };
        let xdotool = find("xdotool")?;
        let screenshot = SCREENSHOTTERS
            .iter()
            .find_map(|(name, args)| find(name).map(|p| (p, *args)));
        let mut passed: Vec<(String, std::ffi::OsString)> = PASSED_VARIABLES
            .iter()
            .filter_map(|k| env.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        passed.push(("DISPLAY".into(), display.clone().into()));
        Some(Desktop {
            display,
            xdotool,
            screenshot,
            opener: find("xdg-open"),
            env: passed,
        })
    }

    /// Runs `program` with `args` and waits (bounded) for it to finish.
    /// `Err` says what went wrong, with the end of its stderr.
    pub fn run(&self, program: &Path, args: &[String]) -> Result<Output, String> {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name} could not be started: {e}"))?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{name} did not finish within {} s and was stopped",
                        RUN_TIMEOUT.as_secs()
                    ));
                }
                Err(e) => return Err(format!("{name} could not be waited for: {e}")),
            }
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        if status.success() {
            return Ok(Output { stdout });
        }
        let said = last_chars(stderr.trim(), 300);
        Err(format!(
            "{name} failed ({status}){}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ))
    }
}

/// The last `n` characters of `text` (a program's stderr ends with the
/// reason it failed).
fn last_chars(text: &str, n: usize) -> &str {
    let start = text
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &text[start..]
}

/// Reads a pipe to its end on a thread, keeping the first bytes.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = pipe {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        crate::redact::redact(&String::from_utf8_lossy(&kept))
    })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect()
    }

    #[test]
    fn the_end_of_stderr_is_kept() {
        assert_eq!(last_chars("abcdef", 3), "def");
        assert_eq!(last_chars("ab", 3), "ab");
        assert_eq!(last_chars("éàü", 2), "àü");
        assert_eq!(last_chars("", 2), "");
    }

    #[test]
    fn needs_a_display_and_xdotool() {
        let sh = Path::new("/bin/sh");
        assert!(is_executable(sh));
        assert!(Desktop::detect(&env(&[("PATH", "/bin")])).is_none());
        assert!(Desktop::detect(&env(&[("DISPLAY", " "), ("PATH", "/bin")])).is_none());
        assert!(Desktop::detect(&env(&[("DISPLAY", ":0"), ("PATH", "/nonexistent")])).is_none());
    }
}

//! A stdio server's process, started in a group of its own so that the
//! whole group, `sh -c` wrappers and what they started included, can be
//! signalled and nothing outlives us. A reaper thread waits for the leader,
//! so its exit is noticed at once and it never lingers as a zombie.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};

use super::error::CallError;
use crate::config::EnvMap;

/// What a server inherits from our environment. Everything else (our
/// tokens above all) stays with us; the server's own `env` comes on top.
pub const INHERITED: [&str; 7] = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR"];

/// How long a server gets to leave by itself once its stdin is closed,
/// then after SIGTERM, then after SIGKILL.
const GRACE_STDIN: Duration = Duration::from_millis(300);
const GRACE_TERM: Duration = Duration::from_millis(700);
const GRACE_KILL: Duration = Duration::from_millis(500);

/// The environment a server starts with.
pub fn child_environment(
    ours: &EnvMap,
    its_own: &BTreeMap<String, String>,
) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = ours
        .iter()
        .filter(|(key, _)| INHERITED.contains(&key.as_str()) || key.starts_with("XDG_"))
        .map(|(key, value)| (OsString::from(key), value.clone()))
        .collect();
    for (key, value) in its_own {
        env.insert(OsString::from(key), OsString::from(value));
    }
    env.into_iter().collect()
}

pub struct Spawned {
    pub group: ProcessGroup,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// What to start.
pub struct Launch<'a> {
    pub name: &'a str,
    pub command: &'a str,
    pub args: &'a [String],
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<&'a Path>,
}

/// Starts the server. `on_exit` runs on the reaper thread as soon as the
/// leader has exited, with a description of how.
pub fn spawn(
    launch: Launch<'_>,
    on_exit: impl FnOnce(String) + Send + 'static,
) -> Result<Spawned, CallError> {
    let mut command = Command::new(launch.command);
    command
        .args(launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = launch.cwd {
        command.current_dir(cwd);
    }
    let mut child = super::orphans::spawn_tied(command).map_err(|e| spawn_error(&launch, e))?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        // Cannot happen with piped stdio; still, leave nothing behind.
        let _ = child.kill();
        let _ = child.wait();
        return Err(CallError::Spawn {
            detail: "the server's pipes could not be set up".into(),
            permanent: false,
        });
    };
    let reaped = Arc::new(AtomicBool::new(false));
    let (exit_tx, exited) = bounded::<()>(0);
    let flag = reaped.clone();
    let spawned = thread::Builder::new()
        .name(format!("reap-{}", launch.name))
        .spawn(move || {
            let how = match child.wait() {
                Ok(status) => describe(status),
                Err(e) => format!("could not be waited for: {}", e.kind()),
            };
            super::orphans::forget(child.id());
            flag.store(true, Ordering::SeqCst);
            on_exit(how);
            drop(exit_tx);
        });
    if spawned.is_err() {
        // Without a reaper the child would become a zombie: kill and reap
        // it now.
        signal_group(pid, libc::SIGKILL);
        if pid > 1 {
            // SAFETY: waits for our own child; a null status pointer is
            // allowed. SIGKILL was just sent, so this returns at once.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        return Err(CallError::Spawn {
            detail: "no thread could be started to watch the server".into(),
            permanent: false,
        });
    }
    Ok(Spawned {
        group: ProcessGroup {
            pid,
            reaped,
            exited,
        },
        stdin,
        stdout,
        stderr,
    })
}

fn spawn_error(launch: &Launch<'_>, e: std::io::Error) -> CallError {
    // Only the command is named: arguments and environment may hold
    // expanded secrets.
    let command = launch.command;
    match e.kind() {
        ErrorKind::NotFound => {
            let detail = match launch.cwd {
                Some(cwd) if !cwd.is_dir() => {
                    format!("working directory {} does not exist", cwd.display())
                }
                _ => format!("command {command:?} not found (is it installed and on PATH?)"),
            };
            CallError::Spawn {
                detail,
                permanent: true,
            }
        }
        ErrorKind::PermissionDenied => CallError::Spawn {
            detail: format!("command {command:?} is not executable (permission denied)"),
            permanent: true,
        },
        kind => CallError::Spawn {
            detail: format!("command {command:?} could not be started: {kind}"),
            permanent: false,
        },
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "exited".to_string(),
    }
}

/// Sends `signal` to every process in the group. Never to our own group or
/// to everyone: a pid that did not fit is skipped.
fn signal_group(pid: i32, signal: libc::c_int) {
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    // Callers signal only while the leader is unreaped or a member was just
    // seen: a group id is not handed out again while its group exists.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Whether any process of the group is still there.
fn group_alive(pid: i32) -> bool {
    if pid <= 1 {
        return false;
    }
    // SAFETY: as above; signal 0 only checks for existence.
    unsafe { libc::kill(-pid, 0) == 0 }
}

/// Looks every 10 ms, at most for `limit`, until no member is left.
fn wait_group_gone(pid: i32, limit: Duration) {
    let step = Duration::from_millis(10);
    let rounds = limit.as_millis() / step.as_millis();
    for _ in 0..rounds {
        if !group_alive(pid) {
            return;
        }
        thread::sleep(step);
    }
}

pub struct ProcessGroup {
    pid: i32,
    reaped: Arc<AtomicBool>,
    /// Disconnected once the leader has been reaped.
    exited: Receiver<()>,
}

impl ProcessGroup {
    pub fn pid(&self) -> u32 {
        u32::try_from(self.pid).unwrap_or(0)
    }

    pub fn has_exited(&self) -> bool {
        self.reaped.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for the leader to exit; whether it has.
    fn wait_exit(&self, limit: Duration) -> bool {
        match self.exited.recv_timeout(limit) {
            Err(RecvTimeoutError::Timeout) => self.has_exited(),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        }
    }

    /// Ends the whole group once the caller has closed the server's stdin:
    /// a short wait for a clean exit, SIGTERM, a longer wait, SIGKILL. The
    /// group is signalled even when the leader left by itself, because
    /// what it started (a wrapper's children) may still run. Bounded by
    /// about 1.5 s.
    pub fn terminate(&self) {
        let left_alone = self.wait_exit(GRACE_STDIN);
        if !left_alone || group_alive(self.pid) {
            signal_group(self.pid, libc::SIGTERM);
            if left_alone {
                // Only what the leader started remains; nothing signals
                // its end to us, so look a few times.
                wait_group_gone(self.pid, GRACE_STDIN);
            } else {
                self.wait_exit(GRACE_TERM);
            }
        }
        if group_alive(self.pid) {
            signal_group(self.pid, libc::SIGKILL);
        }
        if !self.wait_exit(GRACE_KILL) {
            log::warn!(
                "server process {} did not exit after SIGKILL; it will be reaped when it does",
                self.pid
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_env as env;

    #[test]
    fn only_the_allowed_variables_pass_and_the_servers_own_win() {
        let ours = env(&[
            ("PATH", "/bin"),
            ("HOME", "/home/me"),
            ("XDG_CONFIG_HOME", "/cfg"),
            ("MOLECULE_WORKSPACE_TOKEN", "secret-token-value"),
            ("LANG", "C"),
            ("XDGNOT", "x"),
        ]);
        let mut its_own = BTreeMap::new();
        its_own.insert("LANG".to_string(), "de_DE.UTF-8".to_string());
        its_own.insert("K".to_string(), "V".to_string());
        let got: BTreeMap<String, String> = child_environment(&ours, &its_own)
            .into_iter()
            .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
            .collect();
        let want: BTreeMap<String, String> = [
            ("HOME", "/home/me"),
            ("K", "V"),
            ("LANG", "de_DE.UTF-8"),
            ("PATH", "/bin"),
            ("XDG_CONFIG_HOME", "/cfg"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn exit_descriptions() {
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(describe(ExitStatus::from_raw(9)), "was killed by signal 9");
    }
}

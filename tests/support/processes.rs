//! The process table as the tests read it (`/proc`): whether a process
//! still runs, the children of a process, the processes with a marker in
//! their command line.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// (parent pid, state) from /proc/PID/stat; `None` once the pid is gone.
pub fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses; the fields after the
    // last ')' do not.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Whether `pid` still runs: gone, a zombie (waiting for whoever inherited
/// it) or dead all count as not running.
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| !matches!(state, 'Z' | 'X'))
}

/// Every pid in /proc.
fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// The running processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&child| alive(child) && stat(child).is_some_and(|(ppid, _)| ppid == pid))
        .collect()
}

/// The children of `pid` that ended and were not reaped (state Z).
pub fn zombies_of(pid: u32) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&child| stat(child) == Some((pid, 'Z')))
        .collect()
}

/// Running processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(marker)
            }) && alive(pid)
        })
        .collect()
}

/// The pid a shell wrote to `path` (`echo $! > path`), once its line is
/// complete; fails the test when none comes within `limit`.
pub fn pid_written(path: &Path, limit: Duration) -> u32 {
    let mut text = String::new();
    let found = super::eventually(limit, || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.ends_with('\n')
    });
    assert!(found, "{} was never written", path.display());
    match text.trim().parse() {
        Ok(pid) if pid > 1 => pid,
        _ => panic!("bad pid file {}: {text:?}", path.display()),
    }
}

/// `kill -9 PID`; fails the test when it cannot be sent.
pub fn kill9(pid: u32) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -9 {pid} failed");
}

/// `kill -9 PID` whatever comes of it: ends what a failed test left behind.
pub fn kill9_quietly(pid: u32) {
    let _ = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

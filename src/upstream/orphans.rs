//! Nothing a stdio upstream starts may outlive us. Three parts:
//! - each server is started with `PR_SET_PDEATHSIG`, so `kill -9` of
//!   molecule-mcp ends it too. The kernel ties that signal to the *thread*
//!   that forked, so every server is forked by one thread that lives as
//!   long as the process;
//! - molecule-mcp is a child subreaper: what a server leaves behind (a
//!   `setsid` grandchild) becomes our child instead of init's, and the
//!   spawner thread reaps such orphans once they exit (every few seconds),
//!   leaving the servers themselves to their own reaper threads;
//! - at shutdown, after the groups were closed, every descendant still
//!   there is ended and reaped.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, RecvTimeoutError, Sender};

use crate::sync::lock;

type Job = (Command, Sender<io::Result<Child>>);

/// How often exited orphans are reaped.
const REAP_EVERY: Duration = Duration::from_secs(2);

/// The servers we started, which their own reaper threads wait for.
static SERVERS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Called by a server's reaper thread once it has waited for it.
pub fn forget(pid: u32) {
    lock(&SERVERS).remove(&pid);
}

/// Starts `command` so that the child dies with this process.
pub fn spawn_tied(mut command: Command) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe system calls (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // We may have died between fork and prctl: then nobody would
            // ever send the signal.
            if libc::getppid() != parent {
                return Err(io::Error::other("the parent process ended"));
            }
            Ok(())
        });
    }
    let Some(spawner) = spawner() else {
        return command.spawn();
    };
    let (reply, answer) = bounded(1);
    spawner
        .send((command, reply))
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("the spawner thread is gone"))?
}

/// The one long-lived thread that forks servers; `None` when it could not
/// be started (servers are then forked by the caller, still tied to it).
fn spawner() -> Option<&'static Sender<Job>> {
    static SPAWNER: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let _one = lock(&STARTING);
    SPAWNER
        .get_or_init(|| {
            let (jobs, queue) = unbounded::<Job>();
            thread::Builder::new()
                .name("upstream-spawner".into())
                .spawn(move || loop {
                    match queue.recv_timeout(REAP_EVERY) {
                        Ok((mut command, reply)) => {
                            let spawned = command.spawn();
                            // Known before any reaping below can see it exit.
                            if let Ok(child) = &spawned {
                                lock(&SERVERS).insert(child.id());
                            }
                            let _ = reply.send(spawned);
                        }
                        Err(RecvTimeoutError::Timeout) => reap_orphans(),
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                })
                .ok()
                .map(|_| jobs)
        })
        .as_ref()
}

/// Makes orphaned descendants our children (Linux `PR_SET_CHILD_SUBREAPER`).
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments touches no memory of ours.
    let done = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) };
    if done != 0 {
        log::warn!(
            "cannot become a child subreaper ({}); processes an upstream leaves behind may \
             outlive molecule-mcp",
            io::Error::last_os_error()
        );
    }
}

/// Ends every descendant still running: SIGTERM, a short wait, SIGKILL,
/// and reaps our direct children. Bounded by about `grace` twice.
pub fn sweep(grace: Duration) {
    let me = std::process::id();
    let found = descendants(me);
    if found.is_empty() {
        return;
    }
    log::info!(
        "ending {} process(es) the upstream servers left behind",
        found.len()
    );
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        for pid in descendants(me) {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) with plain integers; these pids are our
                // descendants, which cannot be reused while unreaped.
                unsafe {
                    libc::kill(pid, signal);
                }
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            reap_children(me);
            if descendants(me).is_empty() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
    reap_children(me);
}

/// Reaps our exited children that are not servers (orphans handed to us
/// as subreaper), so none lingers as a zombie while we run.
fn reap_orphans() {
    let me = std::process::id();
    let servers = lock(&SERVERS).clone();
    for (pid, (ppid, state)) in processes() {
        if ppid != me || state != 'Z' || servers.contains(&pid) {
            continue;
        }
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: waitpid on one of our own exited children, WNOHANG; a
            // null status pointer is allowed.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}

/// Waits for our children that have ended, without blocking.
fn reap_children(me: u32) {
    for (pid, (ppid, _)) in processes() {
        if ppid != me {
            continue;
        }
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: waitpid on one of our own children, WNOHANG; a null
            // status pointer is allowed.
            unsafe {
                libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
            }
        }
    }
}

/// Live (not zombie) descendants of `root`.
fn descendants(root: u32) -> Vec<u32> {
    let table = processes();
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (pid, (ppid, _)) in &table {
        children.entry(*ppid).or_default().push(*pid);
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if seen.insert(child) {
                stack.push(child);
            }
        }
    }
    seen.into_iter()
        .filter(|pid| table.get(pid).is_some_and(|(_, state)| *state != 'Z'))
        .collect()
}

/// pid -> (parent pid, state) of every process in /proc.
fn processes() -> BTreeMap<u32, (u32, char)> {
    let mut table = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return table;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(stat) = stat(pid) {
            table.insert(pid, stat);
        }
    }
    table
}

fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses; the fields after the
    // last ')' do not.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

//! The stdio transport against real child processes.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde_json::{json, Value};

use molecule_mcp::config::EnvMap;
use molecule_mcp::upstream::config::TransportSpec;
use molecule_mcp::upstream::error::CallError;
use molecule_mcp::upstream::session::{connect, Session};

use super::support::launch;
use super::support::processes::{alive, kill9_quietly, pid_written};
use super::{eventually, no_cancel, TempDir, CALL};

/// Our token in our environment: no child may see it.
const OUR_TOKEN: &str = "tok-must-not-reach-children-123";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream_transport/fixture.sh")
}

fn ours() -> EnvMap {
    let mut env = EnvMap::new();
    env.insert("PATH".into(), std::env::var_os("PATH").unwrap_or_default());
    env.insert("HOME".into(), OsString::from(std::env::temp_dir()));
    env.insert("XDG_CONFIG_HOME".into(), OsString::from("/xdg-test"));
    env.insert("MOLECULE_WORKSPACE_TOKEN".into(), OsString::from(OUR_TOKEN));
    env.insert("SOME_OTHER_SETTING".into(), OsString::from("1"));
    env
}

/// `sh -c script` with `$DIR` (the test's directory), `$FIXTURE` and
/// `$RECORD` (where the fixture writes what it received) set.
fn spec(dir: &TempDir, script: &str) -> TransportSpec {
    let mut env = BTreeMap::new();
    env.insert("DIR".to_string(), dir.path().display().to_string());
    env.insert("FIXTURE".to_string(), fixture().display().to_string());
    env.insert(
        "RECORD".to_string(),
        dir.join("record").display().to_string(),
    );
    env.insert("K".to_string(), "V".to_string());
    TransportSpec::Stdio {
        command: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env,
        cwd: Some(dir.path().to_path_buf()),
    }
}

fn start(dir: &TempDir, script: &str) -> Arc<dyn Session> {
    start_as("fx", dir, script)
}

/// Started under a name of its own, so that its threads can be told apart
/// from those of the tests running beside it.
fn start_as(name: &str, dir: &TempDir, script: &str) -> Arc<dyn Session> {
    let cancel = no_cancel();
    match connect(name, &spec(dir, script), &ours(), CALL, &cancel.rx) {
        Ok(session) => session,
        Err(e) => panic!("connect failed: {e:?}"),
    }
}

const PLAIN: &str = "exec sh \"$FIXTURE\"";
/// The fixture behind a wrapper whose child holds stdout and stderr too.
const WRAPPED: &str =
    "sleep 30 & echo $! > \"$DIR/kid\"; echo $$ > \"$DIR/leader\"; exec sh \"$FIXTURE\"";

fn call(session: &dyn Session, method: &str, params: Value) -> Result<Value, CallError> {
    let cancel = no_cancel();
    session.request(method, params, CALL, &cancel.rx)
}

/// Every message the fixture received, in order.
fn recorded(dir: &TempDir) -> Vec<Value> {
    launch::recorded(&dir.join("record"))
}

fn recorded_id_of(dir: &TempDir, method: &str) -> Option<Value> {
    recorded(dir)
        .into_iter()
        .find(|m| m["method"] == method)
        .map(|m| m["id"].clone())
}

fn pid_in(dir: &TempDir, name: &str) -> i32 {
    pid_written(&dir.join(name), Duration::from_secs(5)) as i32
}

/// Gone, or a zombie waiting for whoever inherited it: either way it no
/// longer runs.
fn is_dead(pid: i32) -> bool {
    !alive(pid as u32)
}

/// Whether one of our threads has this name (as the kernel keeps it, 15
/// bytes at most).
fn thread_named(name: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == name)
    })
}

/// Ends a process the test left outside the server's process group.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill9_quietly(self.0);
    }
}

/// Times out a request whose line is far larger than the pipe, so that
/// the writer is left waiting for room in the child's stdin.
fn fill_stdin(session: &dyn Session) {
    let cancel = no_cancel();
    let pad = "s".repeat(1 << 20);
    let limit = Duration::from_millis(300);
    let result = session.request("echo", json!({"pad": pad}), limit, &cancel.rx);
    assert!(matches!(result, Err(CallError::Timeout)), "{result:?}");
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: plain syscall on a pid this test started.
    unsafe {
        libc::kill(pid, signal);
    }
}

#[test]
fn echo_round_trip() {
    let dir = TempDir::new("echo");
    let session = start(&dir, PLAIN);
    assert_eq!(session.info()["serverInfo"]["name"], "fixture");
    assert_eq!(
        call(&*session, "echo", json!({"tag": 7})).unwrap(),
        json!({"tag": 7})
    );
    match call(&*session, "fail", json!({})) {
        Err(CallError::Rpc { code, message, .. }) => {
            assert_eq!(code, -32602);
            assert_eq!(message, "bad tag");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        call(&*session, "nope", json!({})),
        Err(CallError::Rpc { code: -32601, .. })
    ));
    assert!(session
        .notify("notifications/roots/list_changed", Value::Null)
        .is_ok());
    // The handshake: initialize with our client info, then initialized.
    assert!(eventually(Duration::from_secs(5), || recorded(&dir).len() >= 6));
    let record = recorded(&dir);
    assert_eq!(record[0]["method"], "initialize");
    assert_eq!(record[0]["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(record[0]["params"]["clientInfo"]["name"], "molecule-mcp");
    assert_eq!(record[1]["method"], "notifications/initialized");
    session.close();
    assert!(matches!(
        call(&*session, "echo", json!({})),
        Err(CallError::Closed)
    ));
}

#[test]
fn fifty_concurrent_requests_answered_in_reverse_reach_their_callers() {
    let dir = TempDir::new("concurrent");
    let session = start(&dir, PLAIN);
    thread::scope(|scope| {
        let calls: Vec<_> = (0..50)
            .map(|tag| {
                let session = &session;
                scope.spawn(move || (tag, call(&**session, "collect", json!({"tag": tag}))))
            })
            .collect();
        for handle in calls {
            let (tag, result) = handle.join().unwrap();
            assert_eq!(result.unwrap(), json!({"tag": tag}));
        }
    });
    session.close();
}

#[test]
fn lines_larger_than_the_pipe_arrive_whole_from_concurrent_callers() {
    let dir = TempDir::new("large");
    let session = start(&dir, PLAIN);
    // Well over a pipe's buffer, so that writes are partial and queued
    // (after "tag", which the fixture looks for by pattern).
    let pad = "p".repeat(200 * 1024);
    thread::scope(|scope| {
        let calls: Vec<_> = (0..6)
            .map(|tag| {
                let (session, pad) = (&session, &pad);
                scope.spawn(move || {
                    let params = if tag % 2 == 0 {
                        json!({"tag": tag, "zpad": pad})
                    } else {
                        json!({"tag": tag})
                    };
                    (tag, call(&**session, "echo", params))
                })
            })
            .collect();
        for handle in calls {
            let (tag, result) = handle.join().unwrap();
            assert_eq!(result.unwrap(), json!({"tag": tag}));
        }
    });
    // Every line the fixture read is one whole message.
    let echoes = recorded(&dir)
        .into_iter()
        .filter(|m| m["method"] == "echo")
        .count();
    assert_eq!(echoes, 6);
    session.close();
}

#[test]
fn a_child_that_stops_reading_blocks_no_caller_past_its_timeout() {
    let dir = TempDir::new("stops-reading");
    // Answers initialize, then never reads stdin again but keeps it open.
    let script = "echo $$ > \"$DIR/leader\"; IFS= read -r line; \
                  printf '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"serverInfo\":{\"name\":\"x\",\"version\":\"1\"}}}\\n'; \
                  exec sleep 30";
    let session = start(&dir, script);
    let leader = pid_in(&dir, "leader");
    let cancel = no_cancel();
    let limit = Duration::from_millis(300);
    // Far more than the pipe holds: the caller must not wait for room.
    let pad = "p".repeat(1 << 20);
    for params in [json!({"pad": pad}), json!({}), json!({"pad": pad})] {
        let started = Instant::now();
        let result = session.request("echo", params, limit, &cancel.rx);
        let took = started.elapsed();
        assert!(matches!(result, Err(CallError::Timeout)), "{result:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    let started = Instant::now();
    session.close();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(is_dead(leader), "leader {leader} survived close()");
}

/// The initialize answer the scripted children give.
const INIT_ANSWER: &str = "printf '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"serverInfo\":{\"name\":\"x\",\"version\":\"1\"}}}\\n'";

#[test]
fn callers_beyond_the_writers_queue_still_return_at_their_timeout() {
    let dir = TempDir::new("queue-full");
    // Answers initialize, then never reads stdin again but keeps it open.
    let script =
        format!("echo $$ > \"$DIR/leader\"; IFS= read -r line; {INIT_ANSWER}; exec sleep 30");
    let session = start(&dir, &script);
    let leader = pid_in(&dir, "leader");
    // More callers than the writer's queue holds, each with a line larger
    // than the pipe: most of them wait for room, none past its timeout.
    let pad = "q".repeat(128 * 1024);
    let started = Instant::now();
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let (session, pad) = (session.clone(), pad.clone());
            thread::spawn(move || {
                let cancel = no_cancel();
                let limit = Duration::from_millis(500);
                session.request("echo", json!({"pad": pad}), limit, &cancel.rx)
            })
        })
        .collect();
    for caller in callers {
        let result = caller.join().unwrap();
        assert!(matches!(result, Err(CallError::Timeout)), "{result:?}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    session.close();
    assert!(is_dead(leader), "leader {leader} survived close()");
}

#[test]
fn answers_keep_arriving_while_the_childs_stdin_is_full() {
    let dir = TempDir::new("reader-free");
    // Stops reading after initialize; once our large request has filled
    // the pipe, asks 300 pings (whose answers cannot be written), then
    // answers our request (id 2) without having read it.
    let script = format!(
        "IFS= read -r line; {INIT_ANSWER}; sleep 1; i=0; \
         while [ $i -lt 300 ]; do \
           printf '{{\"jsonrpc\":\"2.0\",\"id\":\"p%s\",\"method\":\"ping\"}}\\n' $i; i=$((i+1)); \
         done; \
         printf '{{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{{\"ok\":true}}}}\\n'; exec sleep 30"
    );
    let session = start(&dir, &script);
    let pad = "r".repeat(1 << 20);
    let cancel = no_cancel();
    let limit = Duration::from_secs(8);
    let result = session.request("echo", json!({"pad": pad}), limit, &cancel.rx);
    assert_eq!(result.unwrap(), json!({"ok": true}));
    session.close();
}

#[test]
fn close_ends_stdin_and_a_child_that_leaves_on_eof_gets_no_signal() {
    let dir = TempDir::new("eof");
    let script = format!(
        "trap 'echo term > \"$DIR/term\"; exit 1' TERM; echo $$ > \"$DIR/leader\"; \
         IFS= read -r line; {INIT_ANSWER}; \
         while IFS= read -r line; do :; done; echo eof > \"$DIR/eof\""
    );
    let session = start(&dir, &script);
    let leader = pid_in(&dir, "leader");
    session.close();
    assert!(is_dead(leader), "leader {leader} survived close()");
    assert!(dir.join("eof").exists(), "the child never saw stdin end");
    assert!(!dir.join("term").exists(), "the child was sent SIGTERM");
}

#[test]
fn close_closes_a_full_stdin_at_once_not_when_the_child_dies() {
    let dir = TempDir::new("full-stdin");
    // Reads nothing after initialize and ignores SIGTERM: only SIGKILL,
    // about a second into close(), ends it.
    let script = format!(
        "trap '' TERM; echo $$ > \"$DIR/leader\"; IFS= read -r line; {INIT_ANSWER}; exec sleep 30"
    );
    let session = start_as("fullstdin", &dir, &script);
    let leader = pid_in(&dir, "leader");
    fill_stdin(&*session);
    assert!(thread_named("stdin-fullstdin"), "no writer thread found");
    let closer = {
        let session = session.clone();
        thread::spawn(move || session.close())
    };
    // The writer leaves, and with it our end of the pipe, while the child
    // still runs: stdin is closed during the grace before signals.
    let writer_left = eventually(Duration::from_secs(5), || !thread_named("stdin-fullstdin"));
    let child_ran = alive(leader as u32);
    closer.join().unwrap();
    assert!(writer_left, "the writer thread outlived close()");
    assert!(child_ran, "stdin was closed only when the child died");
    assert!(is_dead(leader), "leader {leader} survived close()");
}

#[test]
fn a_detached_grandchild_holding_stdin_does_not_keep_the_writer() {
    let dir = TempDir::new("setsid-stdin");
    // The grandchild leaves the process group (close() cannot signal it)
    // and keeps the read end of stdin (as fd 3), reading nothing.
    let script = format!(
        "echo $$ > \"$DIR/leader\"; IFS= read -r line; {INIT_ANSWER}; exec 3<&0; \
         setsid sh -c 'echo $$ > \"$DIR/kid\"; exec sleep 20' >/dev/null 2>&1 & exec sleep 30"
    );
    let session = start_as("detached", &dir, &script);
    let leader = pid_in(&dir, "leader");
    let kid = pid_in(&dir, "kid");
    let _cleanup = KillOnDrop(kid as u32);
    fill_stdin(&*session);
    assert!(thread_named("stdin-detached"), "no writer thread found");
    session.close();
    assert!(is_dead(leader), "leader {leader} survived close()");
    let writer_left = eventually(Duration::from_secs(3), || !thread_named("stdin-detached"));
    assert!(
        alive(kid as u32),
        "the grandchild {kid} no longer holds stdin"
    );
    assert!(writer_left, "the writer thread outlived close()");
}

#[test]
fn a_child_killed_mid_call_fails_the_call_at_once_and_closes() {
    let dir = TempDir::new("killed");
    let session = start(&dir, WRAPPED);
    let leader = pid_in(&dir, "leader");
    let kid = pid_in(&dir, "kid");
    let closed = session.closed();
    let caller = {
        let session = session.clone();
        thread::spawn(move || call(&*session, "hang", json!({})))
    };
    assert!(eventually(Duration::from_secs(5), || recorded_id_of(
        &dir, "hang"
    )
    .is_some()));
    let killed_at = Instant::now();
    kill(leader, libc::SIGKILL);
    let result = caller.join().unwrap();
    // The wrapper's child still holds stdout open: only the exit tells.
    assert!(
        matches!(result, Err(CallError::Transport { sent: true, .. })),
        "{result:?}"
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(3),
        "{:?}",
        killed_at.elapsed()
    );
    assert_eq!(
        closed.recv_timeout(Duration::from_secs(2)),
        Err(RecvTimeoutError::Disconnected)
    );
    assert!(matches!(
        call(&*session, "echo", json!({})),
        Err(CallError::Transport { sent: false, .. })
    ));
    session.close();
    assert!(
        eventually(Duration::from_secs(3), || is_dead(kid)),
        "grandchild {kid} survived"
    );
}

#[test]
fn a_hung_call_times_out_and_the_server_is_told() {
    let dir = TempDir::new("hung");
    let session = start(&dir, PLAIN);
    let cancel = no_cancel();
    let started = Instant::now();
    let result = session.request("hang", json!({}), Duration::from_millis(300), &cancel.rx);
    let took = started.elapsed();
    assert!(matches!(result, Err(CallError::Timeout)), "{result:?}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // The fixture records what it reads; give it time on a busy machine.
    assert!(
        eventually(Duration::from_secs(5), || recorded_id_of(&dir, "hang")
            .is_some()),
        "the hang request was never written"
    );
    let id = recorded_id_of(&dir, "hang").expect("recorded above");
    let told = eventually(Duration::from_secs(5), || {
        recorded(&dir).iter().any(|m| {
            m["method"] == "notifications/cancelled"
                && m["params"]["requestId"] == id
                && m["params"]["reason"] == "timeout"
        })
    });
    assert!(told, "no notifications/cancelled: {:?}", recorded(&dir));
    // The session lives on.
    assert_eq!(
        call(&*session, "echo", json!({"tag": 2})).unwrap(),
        json!({"tag": 2})
    );
    session.close();
}

#[test]
fn a_cancelled_call_returns_at_once_and_the_server_is_told() {
    let dir = TempDir::new("cancel");
    let session = start(&dir, PLAIN);
    let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        drop(tx);
    });
    let started = Instant::now();
    let result = session.request("hang", json!({}), CALL, &rx);
    assert!(matches!(result, Err(CallError::Cancelled)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    canceller.join().unwrap();
    // The fixture records what it reads; give it time on a busy machine.
    assert!(
        eventually(Duration::from_secs(5), || recorded_id_of(&dir, "hang")
            .is_some()),
        "the hang request was never written"
    );
    let id = recorded_id_of(&dir, "hang").expect("recorded above");
    let told = eventually(Duration::from_secs(5), || {
        recorded(&dir)
            .iter()
            .any(|m| m["method"] == "notifications/cancelled" && m["params"]["requestId"] == id)
    });
    assert!(told, "no notifications/cancelled: {:?}", recorded(&dir));
    session.close();
}

#[test]
fn close_leaves_no_child_and_no_grandchild() {
    let dir = TempDir::new("close");
    let session = start(&dir, WRAPPED);
    let leader = pid_in(&dir, "leader");
    let kid = pid_in(&dir, "kid");
    let closed = session.closed();
    let started = Instant::now();
    session.close();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(is_dead(leader), "leader {leader} survived close()");
    assert!(
        eventually(Duration::from_secs(2), || is_dead(kid)),
        "grandchild {kid} survived"
    );
    assert_eq!(
        closed.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Disconnected)
    );
    // Idempotent.
    session.close();
}

#[test]
fn close_kills_a_server_that_ignores_stdin_and_sigterm() {
    let dir = TempDir::new("stubborn");
    let script = "trap '' TERM; echo $$ > \"$DIR/leader\"; sh \"$FIXTURE\"; \
                  sleep 30 & echo $! > \"$DIR/kid\"; wait";
    let session = start(&dir, script);
    let leader = pid_in(&dir, "leader");
    let started = Instant::now();
    session.close();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(is_dead(leader), "leader {leader} survived close()");
    let kid = pid_in(&dir, "kid");
    assert!(
        eventually(Duration::from_secs(2), || is_dead(kid)),
        "child {kid} survived"
    );
}

#[test]
fn dropping_the_last_handle_ends_the_process() {
    let dir = TempDir::new("drop");
    let session = start(&dir, WRAPPED);
    let leader = pid_in(&dir, "leader");
    let kid = pid_in(&dir, "kid");
    drop(session);
    assert!(is_dead(leader), "leader {leader} survived the drop");
    assert!(
        eventually(Duration::from_secs(2), || is_dead(kid)),
        "grandchild {kid} survived"
    );
}

#[test]
fn a_missing_command_is_a_permanent_spawn_failure() {
    let cancel = no_cancel();
    let missing = TransportSpec::Stdio {
        command: "molecule-mcp-test-no-such-command".into(),
        args: vec![],
        env: BTreeMap::new(),
        cwd: None,
    };
    match connect("fx", &missing, &ours(), CALL, &cancel.rx) {
        Err(
            e @ CallError::Spawn {
                permanent: true, ..
            },
        ) => {
            assert!(
                e.to_string().contains("molecule-mcp-test-no-such-command"),
                "{e}"
            );
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a missing command started"),
    }
    let dir = TempDir::new("nocwd");
    let mut spec = spec(&dir, PLAIN);
    if let TransportSpec::Stdio { cwd, .. } = &mut spec {
        *cwd = Some(dir.join("does-not-exist"));
    }
    assert!(matches!(
        connect("fx", &spec, &ours(), CALL, &cancel.rx),
        Err(CallError::Spawn {
            permanent: true,
            ..
        })
    ));
}

#[test]
fn a_child_that_exits_or_never_answers_fails_the_connect() {
    let dir = TempDir::new("noinit");
    let cancel = no_cancel();
    let exits = spec(&dir, "exit 3");
    let result = connect("fx", &exits, &ours(), CALL, &cancel.rx);
    assert!(
        matches!(result, Err(CallError::Transport { .. })),
        "{:?}",
        result.err()
    );
    let silent = spec(&dir, "echo $$ > \"$DIR/leader\"; exec sleep 30");
    let started = Instant::now();
    let result = connect(
        "fx",
        &silent,
        &ours(),
        Duration::from_millis(500),
        &cancel.rx,
    );
    assert!(
        matches!(result, Err(CallError::Timeout)),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let leader = pid_in(&dir, "leader");
    assert!(is_dead(leader), "a failed connect left {leader} running");
}

#[test]
fn the_child_sees_only_the_harmless_part_of_our_environment() {
    let dir = TempDir::new("env");
    let session = start(&dir, "env > \"$DIR/env\"; exec sh \"$FIXTURE\"");
    let env = std::fs::read_to_string(dir.join("env")).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(names.contains(&"PATH"), "{names:?}");
    assert!(
        env.lines().any(|l| l == "XDG_CONFIG_HOME=/xdg-test"),
        "{env}"
    );
    assert!(env.lines().any(|l| l == "K=V"), "{env}");
    assert!(!names.contains(&"MOLECULE_WORKSPACE_TOKEN"), "{names:?}");
    assert!(!names.contains(&"SOME_OTHER_SETTING"), "{names:?}");
    assert!(!env.contains(OUR_TOKEN));
    session.close();
}

#[test]
fn junk_on_stdout_does_not_break_the_next_answer() {
    let dir = TempDir::new("garbage");
    let session = start(&dir, PLAIN);
    assert_eq!(
        call(&*session, "garbage", json!({"tag": 5})).unwrap(),
        json!({"tag": 5})
    );
    assert_eq!(
        call(&*session, "echo", json!({"tag": 6})).unwrap(),
        json!({"tag": 6})
    );
    session.close();
}

#[test]
fn a_notification_flood_is_bounded_and_keeps_the_newest() {
    let dir = TempDir::new("flood");
    let session = start(&dir, PLAIN);
    let events = session.events();
    assert_eq!(
        call(&*session, "flood", json!({"tag": 1})).unwrap(),
        json!({"tag": 1})
    );
    let kept: Vec<Value> = events.try_iter().collect();
    assert!(!kept.is_empty() && kept.len() <= 256, "{} kept", kept.len());
    assert_eq!(kept.last().unwrap()["params"]["n"], 2999);
    assert!(kept.iter().all(|m| m["method"] == "notifications/progress"));
    assert_eq!(
        call(&*session, "echo", json!({"tag": 3})).unwrap(),
        json!({"tag": 3})
    );
    session.close();
}

#[test]
fn the_servers_own_requests_are_answered() {
    let dir = TempDir::new("ask");
    let session = start(&dir, PLAIN);
    assert_eq!(
        call(&*session, "ask", json!({})).unwrap(),
        json!({"ping_ok": 1, "roots_refused": 1})
    );
    assert!(
        session.events().try_recv().is_err(),
        "a server request leaked into events"
    );
    session.close();
}

#[test]
fn stderr_is_kept_for_the_log_and_redacted() {
    let dir = TempDir::new("stderr");
    let script = "echo 'starting up' >&2; echo 'Authorization: Bearer abcdefghijklmnop0123' >&2; \
                  exec sh \"$FIXTURE\"";
    let session = start(&dir, script);
    assert!(eventually(Duration::from_secs(5), || session
        .stderr_tail()
        .len()
        >= 2));
    let tail = session.stderr_tail();
    assert_eq!(tail[0], "starting up");
    assert!(!tail[1].contains("abcdefghijklmnop0123"), "{tail:?}");
    session.close();
}

//! Issue item 10: no upstream process outlives molecule-mcp, neither a
//! `setsid` grandchild after a clean shutdown nor the server after
//! `kill -9` of molecule-mcp.

use std::time::Duration;

use serde_json::json;

use crate::support::gateway::{eventually, Gateway, WAIT};
use crate::support::launch;
use crate::support::processes::{alive, kill9, kill9_quietly, pid_written, zombies_of};
use crate::support::TempDir;

#[test]
fn a_setsid_grandchild_of_a_stdio_upstream_ends_with_shutdown() {
    let dir = TempDir::new("harden-orphan-setsid");
    let pid_file = dir.join("grandchild.pid");
    let fixture = launch::example("fixture_stdio").display().to_string();
    let script = format!(
        "setsid sleep 983 </dev/null >/dev/null 2>&1 & echo $! > '{}'; exec '{fixture}'",
        pid_file.display()
    );
    let servers = json!({"wrapped": {"command": "sh", "args": ["-c", script]}});
    let mut gateway = Gateway::start_in(dir, servers, &[]);
    assert!(gateway.wait_tool("wrapped__echo", true));
    let grandchild = pid_written(&pid_file, WAIT);
    assert!(alive(grandchild), "the grandchild did not start");

    gateway.child.close_stdin();
    let exit = gateway.child.wait_exit(WAIT);
    let gone = eventually(Duration::from_secs(5), || !alive(grandchild));
    kill9_quietly(grandchild);
    assert!(exit.is_some_and(|s| s.success()), "no clean exit");
    assert!(
        gone,
        "the setsid grandchild {grandchild} outlived molecule-mcp"
    );
}

#[test]
fn kill_9_of_molecule_mcp_takes_its_stdio_upstream_with_it() {
    let dir = TempDir::new("harden-orphan-kill9");
    let pid_file = dir.join("leader.pid");
    let fixture = launch::example("fixture_stdio").display().to_string();
    // The wrapper outlives the server's stdin EOF: only a signal ends it.
    let script = format!(
        "trap '' TERM HUP; echo $$ > '{}'; '{fixture}'; sleep 984",
        pid_file.display()
    );
    let servers = json!({"wrapped": {"command": "sh", "args": ["-c", script]}});
    let mut gateway = Gateway::start_in(dir, servers, &[]);
    assert!(gateway.wait_tool("wrapped__echo", true));
    let leader = pid_written(&pid_file, WAIT);
    assert!(alive(leader));

    kill9(gateway.child.pid());
    let gone = eventually(Duration::from_secs(5), || !alive(leader));
    kill9_quietly(leader);
    assert!(
        gone,
        "the upstream {leader} outlived kill -9 of molecule-mcp"
    );
}

#[test]
fn orphans_handed_to_molecule_mcp_are_reaped_while_it_runs() {
    let dir = TempDir::new("harden-orphan-zombies");
    let fixture = launch::example("fixture_stdio").display().to_string();
    // The subshell exits at once; its `sleep` is orphaned, handed to
    // molecule-mcp (the subreaper) and exits shortly after.
    let script = format!("( sleep 0.2 & ) ; exec '{fixture}'");
    let servers = json!({"wrapped": {"command": "sh", "args": ["-c", script]}});
    let mut gateway = Gateway::start_in(dir, servers, &[]);
    assert!(gateway.wait_tool("wrapped__echo", true));
    let pid = gateway.child.pid();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        eventually(Duration::from_secs(10), || zombies_of(pid).is_empty()),
        "zombies of molecule-mcp: {:?}",
        zombies_of(pid)
    );
    // The server itself still works: its reaper was not robbed.
    let answer = gateway.call("wrapped__echo", json!({"text": "alive"}));
    assert!(answer.to_string().contains("alive"), "{answer}");
}

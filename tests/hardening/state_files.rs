//! Issue items 8, 9 and 20: state files in CONFIGS_DIR are read as regular
//! files only, never through a final symlink, within a size cap; an unsafe
//! CONFIGS_DIR (open to others, or owned by another uid) is warned about; temp files a kill left behind are removed.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::json;

use crate::common::{platform_env, sim, start, start_with, WS};
use crate::support::TempDir;

fn mkfifo(path: &std::path::Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(made.success());
}

#[test]
fn a_fifo_or_device_as_a_state_file_never_blocks_the_start() {
    let sim = sim();
    for kind in ["fifo", "dev-zero", "dir"] {
        for file in ["cursor", "queue file"] {
            let home = TempDir::new("harden-state-fifo");
            let configs = home.join("configs");
            std::fs::create_dir_all(&configs).expect("mkdir");
            // A damaged queue file drops the cursor unread: one at a time.
            let path = match file {
                "cursor" => configs.join(".mcp_inbox_cursor"),
                _ => configs.join(format!(".mcp_inbox_queue_{WS}.json")),
            };
            match kind {
                "fifo" => mkfifo(&path),
                "dev-zero" => std::os::unix::fs::symlink("/dev/zero", &path).expect("symlink"),
                _ => std::fs::create_dir_all(&path).expect("mkdir"),
            }
            // `start` fails the test when `initialize` is not answered.
            let mut child = start(&sim, &home, &[]);
            let peek = child.call_tool("inbox_peek", json!({}), Duration::from_secs(10));
            assert!(!crate::common::is_error(&peek), "{kind} {file}: {peek}");
            assert!(
                child.wait_stderr_contains(file, Duration::from_secs(5)),
                "{kind}: the unusable {file} was not reported:\n{}",
                child.stderr()
            );
            child.close_stdin();
            assert!(
                child.wait_exit(Duration::from_secs(10)).is_some(),
                "{kind} {file}: no exit after stdin EOF"
            );
        }
    }
}

#[test]
fn a_cursor_that_is_a_symlink_is_not_followed() {
    let sim = sim();
    let home = TempDir::new("harden-state-link");
    let configs = home.join("configs");
    std::fs::create_dir_all(&configs).expect("mkdir");
    let elsewhere = home.join("planted-cursor");
    std::fs::write(&elsewhere, "row-planted-elsewhere").expect("write");
    std::os::unix::fs::symlink(&elsewhere, configs.join(".mcp_inbox_cursor")).expect("symlink");
    let child = start(&sim, &home, &[("MOLECULE_MCP_VERBOSE", "1")]);
    assert!(
        child.wait_stderr_contains(".mcp_inbox_cursor", Duration::from_secs(10)),
        "the symlinked cursor was not reported:\n{}",
        child.stderr()
    );
    assert!(
        sim.wait_for(
            |requests| requests.iter().any(|r| r.path.contains("/activity")),
            Duration::from_secs(10)
        ),
        "no poll"
    );
    let polls = sim.requests_to(&format!("/workspaces/{WS}/activity"));
    assert!(
        polls
            .iter()
            .all(|r| !r.path.contains("row-planted-elsewhere")),
        "the cursor behind the symlink was used: {:?}",
        polls.iter().map(|r| r.path.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn a_configs_dir_others_can_write_is_warned_about() {
    let sim = sim();
    let home = TempDir::new("harden-state-perms");
    let configs = home.join("configs");
    std::fs::create_dir_all(&configs).expect("mkdir");
    std::fs::set_permissions(&configs, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let child = start(&sim, &home, &[]);
    assert!(
        child.wait_stderr_contains("writable by other users", Duration::from_secs(5)),
        "no warning:\n{}",
        child.stderr()
    );
    drop(child);

    let safe = TempDir::new("harden-state-perms-ok");
    let child = start_with(&safe, &platform_env(&sim, &safe));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!child.stderr().contains("writable by other users"));
}

#[test]
fn a_configs_dir_owned_by_another_uid_is_warned_about() {
    // Only root can give a directory away; CI runs as root.
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a directory to another uid needs root");
        return;
    }
    let sim = sim();
    let home = TempDir::new("harden-state-owner");
    let configs = home.join("configs");
    std::fs::create_dir_all(&configs).expect("mkdir");
    std::fs::set_permissions(&configs, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::chown(&configs, Some(65534), Some(65534)).expect("chown");
    let child = start(&sim, &home, &[]);
    let needle = "owned by uid 65534 while molecule-mcp runs as uid 0";
    assert!(
        child.wait_stderr_contains(needle, Duration::from_secs(5)),
        "no warning:\n{}",
        child.stderr()
    );
    let warning = child.stderr_line(needle);
    assert!(warning.contains("[WARN]"), "{warning}");
    assert!(!warning.contains("  "), "the warning is garbled: {warning}");
    assert!(
        !warning.contains("writable by other users"),
        "a private directory is called writable: {warning}"
    );
}

#[test]
fn stale_temp_files_are_removed_at_start() {
    let sim = sim();
    let home = TempDir::new("harden-state-temps");
    let configs = home.join("configs");
    std::fs::create_dir_all(&configs).expect("mkdir");
    // pid_max is at most 4194304: these writers are gone for sure.
    let stale = [
        configs.join(format!("..mcp_inbox_queue_{WS}.json.tmp.4194400.0")),
        configs.join("..mcp_inbox_cursor.tmp.4194401.17"),
        configs.join("..platform_inbound_secret.tmp.4194402.3"),
    ];
    for path in &stale {
        std::fs::write(path, vec![b'x'; 4096]).expect("write");
    }
    // A writer that still runs (this test) keeps its temp file, and files
    // that only look similar are not touched.
    let live = configs.join(format!("..mcp_inbox_cursor.tmp.{}.0", std::process::id()));
    let other = configs.join("notes.tmp.txt");
    std::fs::write(&live, "x").expect("write");
    std::fs::write(&other, "x").expect("write");
    let _child = start(&sim, &home, &[]);
    for path in &stale {
        assert!(!path.exists(), "{} is still there", path.display());
    }
    assert!(live.exists() && other.exists());
}

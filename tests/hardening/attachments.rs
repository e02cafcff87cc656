//! Issue items 1 and 2: attachments come only from allowed directories,
//! never from the process's own secrets, and never block in open(2).

use std::time::Duration;

use serde_json::json;

use crate::common::{call, is_error, sim, start, text, TOKEN, WS};
use crate::support::TempDir;

fn send(child: &mut crate::support::Child, path: &str) -> serde_json::Value {
    call(
        child,
        "send_message_to_user",
        json!({"message": "see file", "attachments": [path]}),
    )
}

#[test]
fn attachments_never_read_the_process_environment_token_or_state() {
    let sim = sim();
    let home = TempDir::new("harden-attach-secrets");
    let token_file = home.join("token");
    std::fs::write(&token_file, TOKEN).expect("write token file");
    let link = home.join("innocent.txt");
    std::os::unix::fs::symlink(&token_file, &link).expect("symlink");
    let token_path = token_file.to_string_lossy().into_owned();
    let mut child = start(
        &sim,
        &home,
        &[
            ("MOLECULE_WORKSPACE_TOKEN", ""),
            ("MOLECULE_WORKSPACE_TOKEN_FILE", &token_path),
        ],
    );
    // The register writes the inbound secret into CONFIGS_DIR.
    std::fs::create_dir_all(home.join("configs")).expect("configs");
    let secret = home.join("configs/.platform_inbound_secret");
    std::fs::write(&secret, "inbound-secret-value").expect("write secret");

    for path in [
        "/proc/self/environ".to_string(),
        format!("/proc/{}/environ", child.pid()),
        "/etc/passwd".to_string(),
        token_path.clone(),
        link.to_string_lossy().into_owned(),
        secret.to_string_lossy().into_owned(),
        home.join("configs/../token").to_string_lossy().into_owned(),
    ] {
        let result = send(&mut child, &path);
        assert!(is_error(&result), "{path} was accepted: {result}");
        assert!(
            text(&result).contains("MOLECULE_MCP_ATTACHMENT_DIRS")
                || text(&result).contains("never"),
            "{path}: {result}"
        );
    }
    assert!(sim.uploads(WS).is_empty(), "something was uploaded");
    assert!(sim.notifications(WS).is_empty());

    // An ordinary file in the working directory still goes.
    let fine = home.join("report.txt");
    std::fs::write(&fine, "numbers").expect("write");
    let ok = send(&mut child, &fine.to_string_lossy());
    assert!(!is_error(&ok), "{ok}");
    assert_eq!(sim.uploads(WS).len(), 1);
}

#[test]
fn the_attachment_setting_replaces_the_default_directories() {
    let sim = sim();
    let home = TempDir::new("harden-attach-dirs");
    let allowed = home.join("outbox");
    let other = home.join("private");
    std::fs::create_dir_all(&allowed).expect("mkdir");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(allowed.join("a.txt"), "a").expect("write");
    std::fs::write(other.join("b.txt"), "b").expect("write");
    let dirs = format!("{}:/nonexistent-dir-for-test", allowed.display());
    let mut child = start(&sim, &home, &[("MOLECULE_MCP_ATTACHMENT_DIRS", &dirs)]);

    let refused = send(&mut child, &other.join("b.txt").to_string_lossy());
    assert!(is_error(&refused), "{refused}");
    assert!(
        text(&refused).contains("MOLECULE_MCP_ATTACHMENT_DIRS"),
        "{refused}"
    );
    // A path that walks out of the allowed directory is judged by where it
    // really leads.
    let escape = allowed.join("../private/b.txt");
    let refused = send(&mut child, &escape.to_string_lossy());
    assert!(is_error(&refused), "{refused}");
    let sneaky = allowed.join("link.txt");
    std::os::unix::fs::symlink(other.join("b.txt"), &sneaky).expect("symlink");
    let refused = send(&mut child, &sneaky.to_string_lossy());
    assert!(is_error(&refused), "{refused}");

    let ok = send(&mut child, &allowed.join("a.txt").to_string_lossy());
    assert!(!is_error(&ok), "{ok}");
    let uploads = sim.uploads(WS);
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].bytes, b"a");
}

#[test]
fn a_fifo_attachment_is_refused_at_once_and_never_blocks_a_worker() {
    let sim = sim();
    let home = TempDir::new("harden-attach-fifo");
    let fifo = home.join("pipe.txt");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let mut child = start(&sim, &home, &[]);
    let fifo = fifo.to_string_lossy().into_owned();
    for _ in 0..20 {
        let result = child.call_tool(
            "send_message_to_user",
            json!({"message": "m", "attachments": [fifo.as_str()]}),
            Duration::from_secs(10),
        );
        assert!(is_error(&result), "{result}");
        assert!(text(&result).contains("not a regular file"), "{result}");
    }
    // Device files are refused before they are opened.
    let result = send(&mut child, "/dev/zero");
    assert!(is_error(&result), "{result}");
    let info = call(&mut child, "get_runtime_identity", json!({}));
    assert!(!is_error(&info), "{info}");
}

#[test]
fn a_working_directory_of_slash_allows_nothing_by_default() {
    use std::io::{BufRead, BufReader, Write};
    let sim = sim();
    let home = TempDir::new("harden-attach-root");
    let fine = home.join("fine.txt");
    std::fs::write(&fine, "ok").expect("write");
    // Hosts often start servers in `/`: it must not allow every file.
    let mut child = std::process::Command::new(crate::support::bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .envs(crate::common::platform_env(&sim, &home))
        .current_dir("/")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let mut stdin = child.stdin.take().expect("stdin");
    let call = |id: u64, path: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "send_message_to_user",
            "arguments": {"message": "m", "attachments": [path]}}})
    };
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "hardening-test", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        call(2, "/etc/hostname"),
        call(3, &fine.to_string_lossy()),
    ];
    for line in lines {
        writeln!(stdin, "{line}").expect("write");
    }
    // Answered in any order; the reader ends when the child does.
    let (tx, answers) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut results = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while results.len() < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = answers.recv_timeout(left) else {
            break;
        };
        let Ok(answer) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(id @ (2 | 3)) = answer["id"].as_u64() {
            results.insert(id, answer["result"].clone());
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let refused = results.get(&2).expect("no answer for /etc/hostname");
    assert!(is_error(refused), "{refused}");
    assert!(
        text(refused).contains("MOLECULE_MCP_ATTACHMENT_DIRS"),
        "{refused}"
    );
    // The temp directory still is allowed.
    let sent = results.get(&3).expect("no answer for the temp file");
    assert!(!is_error(sent), "{sent}");
}

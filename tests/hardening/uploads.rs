//! Issue item 6: concurrent attachment sends do not multiply memory.

use std::time::Duration;

use serde_json::json;

use crate::common::{is_error, start_with, TOKEN, WS};
use crate::support::loopback::{Loopback, Reply, Seen};
use crate::support::TempDir;

/// A platform stand-in that reads and drops request bodies (the simulator
/// would keep them in memory) and answers each upload with
/// `files_per_upload` stored-file descriptions.
fn upload_sink(files_per_upload: usize) -> Loopback {
    Loopback::start(move |seen: &Seen| {
        if !seen.path.contains("/chat/uploads") {
            return Reply::json(200, &json!({}));
        }
        let files: Vec<_> = (0..files_per_upload)
            .map(|i| json!({"uri": format!("platform://u{i}"), "name": "f", "size": 1}))
            .collect();
        Reply::json(200, &json!({ "files": files }))
    })
}

fn uploads(sink: &Loopback) -> usize {
    sink.seen()
        .iter()
        .filter(|s| s.path.contains("/chat/uploads"))
        .count()
}

/// The peak resident set of a process so far, in bytes (Linux `VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    match kib {
        Some(kib) => kib * 1024,
        None => panic!("no VmHWM in /proc/{pid}/status"),
    }
}

#[test]
fn sixteen_concurrent_sends_of_two_25_mib_files_stay_under_100_mib() {
    let sink = upload_sink(2);
    let url = sink.url("");
    let home = TempDir::new("harden-upload-rss");
    let mut paths = Vec::new();
    for name in ["a.bin", "b.bin"] {
        let path = home.join(name);
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(25 * 1024 * 1024).expect("size");
        paths.push(path.to_string_lossy().into_owned());
    }
    let configs = home.join("configs").to_string_lossy().into_owned();
    let env: Vec<(String, String)> = [
        ("PLATFORM_URL", url.as_str()),
        ("WORKSPACE_ID", WS),
        ("MOLECULE_WORKSPACE_TOKEN", TOKEN),
        ("CONFIGS_DIR", configs.as_str()),
        ("MOLECULE_MCP_DISABLE_HEARTBEAT", "1"),
        ("MOLECULE_MCP_DISABLE_INBOX", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut child = start_with(&home, &env);
    let before = peak_rss(child.pid());

    const SENDS: u64 = 16;
    for id in 0..SENDS {
        let request = json!({"jsonrpc": "2.0", "id": 1000 + id, "method": "tools/call",
            "params": {"name": "send_message_to_user",
                "arguments": {"message": "files", "attachments": paths}}});
        child.send_json(&request).expect("send");
    }
    for id in 0..SENDS {
        let Some(answer) = child.wait_answer(&json!(1000 + id), Duration::from_secs(120)) else {
            panic!("send {id} never answered; stderr:\n{}", child.stderr());
        };
        assert!(!is_error(&answer["result"]), "{answer}");
    }
    assert_eq!(uploads(&sink), SENDS as usize);
    let peak = peak_rss(child.pid());
    eprintln!(
        "peak RSS: {} MiB at start, {} MiB after {SENDS} concurrent 2 x 25 MiB sends",
        before >> 20,
        peak >> 20
    );
    assert!(peak < 100 * 1024 * 1024, "peak RSS {} MiB", peak >> 20);
}

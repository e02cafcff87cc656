//! A real client: the official MCP Python SDK drives the binary through
//! initialize, list_tools and call_tool. `make test` creates the venv
//! (target/interop-venv, `pip install mcp`) before running the tests.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::sim::Simulator;
use support::TempDir;

const WS: &str = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a";
const TOKEN: &str = "tok-interop-0123456789abcdef";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MOLECULE_INTEROP_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv/bin/python")
}

#[test]
fn the_python_sdk_initializes_lists_and_calls_tools() {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run `make interop-deps` (make test does it)",
        python.display()
    );
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.set_profile(WS, "Interop agent", "tester");
    let peer = "7d6c5b4a-3928-4716-a5b4-c3d2e1f0a9b8";
    sim.add_workspace(peer, Some("tok-peer-0123456789abcdef"));
    sim.set_profile(peer, "Peer agent", "helper");
    let home = TempDir::new("interop-python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/python_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(support::bin())
        .arg(sim.url())
        .arg(WS)
        .arg(TOKEN)
        .arg(home.join("configs"))
        .env("HOME", home.path())
        .output()
        .expect("cannot run the Python client");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python client failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("bad report ({e}): {stdout}"));

    assert_eq!(report["server_name"], "molecule");
    // The SDK asks for its newest revision, which we support: it gets it back.
    assert_eq!(report["protocol_version"], report["client_version"]);
    assert_eq!(report["protocol_version"], "2025-11-25");
    assert_eq!(report["has_instructions"], true);
    assert_eq!(report["tools_list_changed"], true);
    let tools: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in support::platform_tools(false) {
        assert!(
            tools.contains(&name.as_str()),
            "{name} missing from {tools:?}"
        );
    }
    assert_eq!(
        tools.len(),
        support::platform_tools(false).len(),
        "{tools:?}"
    );
    assert_eq!(report["schemas_are_objects"], true);
    assert_eq!(report["identity_is_error"], false);
    assert!(
        report["identity_text"].as_str().unwrap().contains(WS),
        "{report}"
    );
    assert_eq!(report["peers_is_error"], false);
    assert!(
        report["peers_text"]
            .as_str()
            .unwrap()
            .contains("Peer agent"),
        "{report}"
    );
    assert!(
        report["pop_text"].as_str().unwrap().contains("false"),
        "{report}"
    );
    assert!(!stderr.contains(TOKEN), "token leaked: {stderr}");
}

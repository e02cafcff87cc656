//! What the hardening tests share: a simulator with one workspace and a
//! peer, the binary started against it, and tool calls.

use std::time::Duration;

use serde_json::Value;

use crate::support::sim::Simulator;
pub use crate::support::tool_is_error as is_error;
use crate::support::{Child, TempDir};

pub const WS: &str = "7e1d2c3b-2222-4222-8333-444455556666";
pub const PEER: &str = "7e1d2c3b-8888-4888-8777-666655554444";
pub const TOKEN: &str = "tok-harden-3c9a1f0e7d6b5a4c";
pub const PEER_TOKEN: &str = "tok-harden-peer-77aa11bb22cc";
pub const SOON: Duration = Duration::from_secs(10);

pub fn sim() -> Simulator {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.add_workspace(PEER, Some(PEER_TOKEN));
    sim
}

/// The environment of a platform-mode start against `sim`, with the token
/// inline and CONFIGS_DIR at `<home>/configs`.
pub fn platform_env(sim: &Simulator, home: &TempDir) -> Vec<(String, String)> {
    vec![
        ("PLATFORM_URL".into(), sim.url()),
        ("WORKSPACE_ID".into(), WS.into()),
        ("MOLECULE_WORKSPACE_TOKEN".into(), TOKEN.into()),
        (
            "CONFIGS_DIR".into(),
            home.join("configs").to_string_lossy().into_owned(),
        ),
        ("MOLECULE_MCP_POLL_SECS".into(), "0.2".into()),
    ]
}

/// Starts the binary with `env` (later pairs win) and does the handshake.
pub fn start_with(home: &TempDir, env: &[(String, String)]) -> Child {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in env {
        merged.retain(|(old, _)| old != k);
        merged.push((k.clone(), v.clone()));
    }
    let pairs: Vec<(&str, &str)> = merged
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut child = Child::spawn(home.path(), &pairs);
    child.initialize("hardening-test");
    child
}

pub fn start(sim: &Simulator, home: &TempDir, extra: &[(&str, &str)]) -> Child {
    let mut env = platform_env(sim, home);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    start_with(home, &env)
}

/// The `CallToolResult` of a call; a JSON-RPC error or no answer within
/// twice `SOON` fails the test.
pub fn call(child: &mut Child, name: &str, arguments: Value) -> Value {
    child.call_tool(name, arguments, SOON + SOON)
}

pub fn text(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

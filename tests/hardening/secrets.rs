//! Issue items 11, 14 and 15: every secret molecule-mcp holds is masked in
//! its logs and in everything it passes to the agent, whatever the name of
//! the variable it came from; credentials in `args` are warned about.

use std::time::Duration;

use serde_json::json;

use crate::echo_headers;
use crate::support::gateway::{eventually, Gateway};
use crate::support::launch;

const GH_PAT: &str = "ghp_Q1w2E3r4T5y6U7i8O9p0AsDfGhJkL1z2X3c4";
const DB_PASS: &str = "correct-horse-battery-7781";
const CUSTOM: &str = "x-custom-credential-55e1c0ffee";
const UP_TOKEN: &str = "upstream-bearer-0a9b8c7d6e5f";

#[test]
fn values_expanded_into_a_dying_childs_args_and_env_never_reach_the_log() {
    // The server quotes its arguments and environment on stderr, plus
    // credentials of common shapes it knows itself; it dies on a call.
    let fixture = launch::example("fixture_stdio").display().to_string();
    let script = format!(
        "echo \"starting with $1 and $DATABASE_URL; also ghs_ABCDEFGHIJKLMNOPQRSTuvwxyz0123456789 \
         xoxb-1234567890-abcdefghijkl AKIAIOSFODNN7EXAMPLE https://bob:hunter2-pass@db.example.com/x \
         github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz\" >&2; exec '{fixture}'"
    );
    let servers = json!({"leaky": {
        "command": "sh",
        "args": ["-c", script, "sh", "${GH_PAT}"],
        "env": {"DATABASE_URL": "postgres://app:${DB_PASS}@db.internal/app"}
    }});
    let mut gateway = Gateway::start(
        "harden-redact-child",
        servers,
        &[("GH_PAT", GH_PAT), ("DB_PASS", DB_PASS)],
    );
    assert!(gateway.wait_tool("leaky__crash", true));
    let _ = gateway.call("leaky__crash", json!({}));
    assert!(
        eventually(Duration::from_secs(15), || gateway
            .child
            .stderr()
            .contains("starting with")),
        "the child's stderr was never quoted:\n{}",
        gateway.child.stderr()
    );
    gateway.child.close_stdin();
    let _ = gateway.child.wait_exit(Duration::from_secs(10));
    let log = gateway.child.stderr();
    for secret in [
        GH_PAT,
        DB_PASS,
        "ghs_ABCDEFGHIJKLMNOPQRSTuvwxyz0123456789",
        "xoxb-1234567890-abcdefghijkl",
        "AKIAIOSFODNN7EXAMPLE",
        "hunter2-pass",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    // Item 15: a credential in args is world-readable in /proc/PID/cmdline.
    assert!(
        log.contains("args") && log.contains("cmdline") && log.contains("env"),
        "no warning about a credential in args:\n{log}"
    );
}

#[test]
fn configured_header_values_never_reach_the_agent() {
    let server = echo_headers::start();
    let url = server.url("/mcp");
    let servers = json!({"echo": {
        "url": url,
        "headers": {"Authorization": "Bearer ${UP_TOKEN}", "X-Custom": "${CUSTOM}",
                    "X-Literal": "literal-header-secret-9911"}
    }});
    let mut gateway = Gateway::start(
        "harden-redact-headers",
        servers,
        &[("UP_TOKEN", UP_TOKEN), ("CUSTOM", CUSTOM)],
    );
    assert!(gateway.wait_tool("echo__headers", true));
    for tool in ["echo__headers", "echo__broken"] {
        let answer = gateway.call(tool, json!({}));
        let shown = answer.to_string();
        assert!(
            shown.to_ascii_lowercase().contains("x-custom"),
            "{tool}: the headers were not echoed: {shown}"
        );
        for secret in [UP_TOKEN, CUSTOM, "literal-header-secret-9911"] {
            assert!(!shown.contains(secret), "{tool}: {secret} shown: {shown}");
        }
    }
}

//! Issue item 12: ids taken from tool arguments follow the configuration's
//! id rules, so none can walk the platform's URL space with our token.

use serde_json::{json, Value};

use crate::common::{sim, start, PEER, SOON};
use crate::support::TempDir;

#[test]
fn ids_in_tool_arguments_cannot_walk_the_platforms_paths() {
    let sim = sim();
    let home = TempDir::new("harden-ids");
    let mut child = start(&sim, &home, &[]);
    sim.clear_requests();
    let bad_ids = [
        "..",
        "../registry",
        "a/../b",
        "x?y=1",
        "%2e%2e",
        " .",
        "a b",
    ];
    for bad in bad_ids {
        for (tool, arguments) in [
            ("delegate_task", json!({"workspace_id": bad, "task": "t"})),
            (
                "delegate_task_async",
                json!({"workspace_id": bad, "task": "t"}),
            ),
            (
                "check_task_status",
                json!({"workspace_id": bad, "task_id": ""}),
            ),
            (
                "check_task_status",
                json!({"workspace_id": PEER, "task_id": bad}),
            ),
            ("chat_history", json!({"peer_id": bad})),
            ("inbox_pop", json!({"activity_id": bad})),
        ] {
            let params = json!({"name": tool, "arguments": arguments});
            let Some(answer) = child.request("tools/call", params, SOON) else {
                panic!("no answer to {tool} {bad:?}");
            };
            assert_eq!(
                answer.pointer("/error/code"),
                Some(&json!(-32602)),
                "{tool} {bad:?}: {answer}"
            );
            let message = answer
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("");
            assert!(message.contains("id"), "{tool} {bad:?}: {answer}");
        }
    }
    let sent: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        sent.iter().all(|p| !p.contains("..") && !p.contains("%2e")),
        "{sent:?}"
    );
}

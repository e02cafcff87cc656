//! The tools the Molecule runtime gained after the seeds, through the real
//! binary: goal and task list (local state surviving `kill -9`), requests
//! and approvals to the user, plugin installs, and desktop control.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::sim::{Reply, Simulator};
use support::{tool_is_error as is_error, tool_text as text, Child, TempDir};

/// The `CallToolResult` of a call that must not be a JSON-RPC error.
fn call(child: &mut Child, name: &str, arguments: Value) -> Value {
    child.call_tool(name, arguments, SOON + SOON)
}

const WS: &str = "5a1d2c3b-1111-4222-8333-444455556666";
const TOKEN: &str = "tok-runtime-bb-0f1e2d3c4b5a6978";
const SOON: Duration = Duration::from_secs(10);

fn sim() -> Simulator {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim
}

fn start(sim: &Simulator, home: &TempDir, extra: &[(&str, &str)]) -> Child {
    let mut vars = vec![("MOLECULE_MCP_DISABLE_INBOX", "1")];
    vars.extend_from_slice(extra);
    let mut child = Child::spawn_workspace(home.path(), &sim.url(), (WS, TOKEN), &vars);
    child.initialize("runtime-tools-test");
    child
}

fn ok(child: &mut Child, name: &str, arguments: Value) -> Value {
    let result = call(child, name, arguments);
    assert!(!is_error(&result), "{name}: {result}");
    result["structuredContent"].clone()
}

fn failed(child: &mut Child, name: &str, arguments: Value, needle: &str) {
    let result = call(child, name, arguments);
    assert!(is_error(&result), "{name} should fail: {result}");
    assert!(text(&result).contains(needle), "{needle:?} not in {result}");
}

// ---------------------------------------------------------------- goal and tasks

#[test]
fn goal_and_tasks_survive_kill_9_and_a_restart() {
    let sim = sim();
    let home = TempDir::new("runtime-plans");
    let mut child = start(&sim, &home, &[]);

    assert_eq!(ok(&mut child, "goal_get", json!({}))["goal"], Value::Null);
    let set = ok(
        &mut child,
        "goal_set",
        json!({"goal": "ship the release", "cadence_seconds": 600}),
    );
    assert_eq!(set["saved"], true);
    let a = ok(&mut child, "task_add", json!({"title": "write notes"}));
    let a_id = a["task"]["id"].as_str().unwrap().to_string();
    let b = ok(
        &mut child,
        "task_add",
        json!({"title": "tag v2", "next_action": "run the tests"}),
    );
    let b_id = b["task"]["id"].as_str().unwrap().to_string();
    assert_ne!(a_id, b_id);
    ok(
        &mut child,
        "task_update",
        json!({"task_id": b_id, "status": "in_progress"}),
    );
    ok(&mut child, "task_complete", json!({"task_id": a_id}));

    child.kill();
    let file = home.join(format!("configs/.mcp_goal_{WS}.json"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());

    let mut child = start(&sim, &home, &[]);
    let goal = ok(&mut child, "goal_get", json!({}));
    assert_eq!(goal["goal"], "ship the release");
    assert_eq!(goal["cadence_seconds"], 600);
    let open = ok(&mut child, "task_list", json!({}));
    assert_eq!(open["total"], 1, "{open}");
    assert_eq!(open["tasks"][0]["id"], b_id.as_str());
    assert_eq!(open["tasks"][0]["status"], "in_progress");
    assert_eq!(open["tasks"][0]["next_action"], "run the tests");
    let all = ok(&mut child, "task_list", json!({"status": "all"}));
    assert_eq!(all["total"], 2, "{all}");
    let done = ok(&mut child, "task_list", json!({"status": "done"}));
    assert_eq!(done["tasks"][0]["id"], a_id.as_str());

    // A new task never reuses an id.
    let c = ok(&mut child, "task_add", json!({"title": "third"}));
    assert_ne!(c["task"]["id"], a_id.as_str());
    assert_ne!(c["task"]["id"], b_id.as_str());

    let cleared = ok(&mut child, "goal_clear", json!({}));
    assert_eq!(cleared["cleared"], true);
    assert_eq!(ok(&mut child, "goal_get", json!({}))["goal"], Value::Null);
}

#[test]
fn bad_goal_and_task_input_is_a_clear_error_and_loses_nothing() {
    let sim = sim();
    let home = TempDir::new("runtime-plans-bad");
    let mut child = start(&sim, &home, &[]);
    let kept = ok(&mut child, "task_add", json!({"title": "keep me"}));
    ok(&mut child, "goal_set", json!({"goal": "keep this goal"}));

    failed(
        &mut child,
        "task_add",
        json!({"title": "   "}),
        "`title` must not be empty",
    );
    failed(
        &mut child,
        "task_add",
        json!({"title": "x".repeat(100_000)}),
        "at most 500",
    );
    failed(
        &mut child,
        "task_update",
        json!({"task_id": "t999", "status": "done"}),
        "no task \"t999\"",
    );
    failed(
        &mut child,
        "task_complete",
        json!({"task_id": "nope"}),
        "task_list",
    );
    failed(
        &mut child,
        "task_update",
        json!({"task_id": kept["task"]["id"], "status": "finished"}),
        "not a task status",
    );
    failed(
        &mut child,
        "task_update",
        json!({"task_id": kept["task"]["id"]}),
        "`status` or `next_action`",
    );
    failed(
        &mut child,
        "goal_set",
        json!({"goal": "too often", "cadence_seconds": 60}),
        "at least 300",
    );
    failed(
        &mut child,
        "goal_set",
        json!({"goal": "y".repeat(10_000)}),
        "at most 4000",
    );

    let all = ok(&mut child, "task_list", json!({"status": "all"}));
    assert_eq!(all["total"], 1, "{all}");
    assert_eq!(all["tasks"][0]["title"], "keep me");
    assert_eq!(
        ok(&mut child, "goal_get", json!({}))["goal"],
        "keep this goal"
    );
}

#[test]
fn the_idle_goal_variable_seeds_a_workspace_without_a_goal() {
    let sim = sim();
    let home = TempDir::new("runtime-plans-seed");
    let seed = [("MOLECULE_IDLE_GOAL", "keep the docs current")];
    let mut child = start(&sim, &home, &seed);
    let goal = ok(&mut child, "goal_get", json!({}));
    assert_eq!(goal["goal"], "keep the docs current", "{goal}");
    assert_eq!(goal["cadence_seconds"], 3600);
    // A cleared goal stays cleared: the seed only fills a workspace that
    // never had a goal file.
    ok(&mut child, "goal_clear", json!({}));
    child.kill();
    let mut child = start(&sim, &home, &seed);
    assert_eq!(ok(&mut child, "goal_get", json!({}))["goal"], Value::Null);
}

#[test]
fn a_damaged_goal_file_is_moved_aside_and_reported() {
    let sim = sim();
    let home = TempDir::new("runtime-plans-damaged");
    std::fs::create_dir_all(home.join("configs")).unwrap();
    let file = home.join(format!("configs/.mcp_goal_{WS}.json"));
    std::fs::write(&file, b"{\"version\": 1, \"tasks\": [").unwrap();
    let mut child = start(&sim, &home, &[]);
    failed(&mut child, "task_list", json!({}), "moved aside");
    let added = ok(&mut child, "task_add", json!({"title": "after"}));
    assert_eq!(added["task"]["title"], "after");
    let kept = std::fs::read_dir(home.join("configs"))
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(kept, "the damaged file was not kept for the operator");
}

#[test]
fn tools_list_offers_the_runtime_tools_in_order() {
    let sim = sim();
    let home = TempDir::new("runtime-list");
    let mut child = start(&sim, &home, &[]);
    let names = child.tool_names(SOON);
    assert_eq!(names, support::platform_tools(false), "{names:?}");
}

// ---------------------------------------------------------------- requests to the user

#[test]
fn create_request_and_create_approval_raise_requests_to_the_user() {
    let sim = sim();
    let home = TempDir::new("runtime-requests");
    let mut child = start(&sim, &home, &[]);

    let raised = call(
        &mut child,
        "create_request",
        json!({"kind": "task", "title": "rotate the deploy key", "detail": "it expires", "priority": 3}),
    );
    assert!(!is_error(&raised), "{raised}");
    assert!(
        text(&raised).starts_with("Raised task request "),
        "{raised}"
    );
    let id = raised["structuredContent"]["request_id"].as_str().unwrap();
    assert!(!id.is_empty());

    let approval = call(
        &mut child,
        "create_approval",
        json!({"action": "drop the staging database", "reason": "it is corrupt"}),
    );
    assert!(!is_error(&approval), "{approval}");
    assert!(
        text(&approval).contains("Raised approval request"),
        "{approval}"
    );

    let sent = sim.user_requests(WS);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[0],
        json!({"kind": "task", "recipient_type": "user", "recipient_id": "",
               "title": "rotate the deploy key", "detail": "it expires", "priority": 3})
    );
    assert_eq!(
        sent[1],
        json!({"kind": "approval", "recipient_type": "user", "recipient_id": "",
               "title": "drop the staging database", "detail": "it is corrupt"})
    );

    let bad = child
        .request(
            "tools/call",
            json!({"name": "create_request", "arguments": {"kind": "poll", "title": "x"}}),
            SOON,
        )
        .unwrap();
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[test]
fn create_request_failures_are_is_error_results() {
    let sim = sim();
    let home = TempDir::new("runtime-requests-fail");
    let mut child = start(&sim, &home, &[]);
    let path = format!("/workspaces/{WS}/requests");
    let args = json!({"kind": "approval", "title": "deploy"});
    let cases = [
        (
            Reply::json(401, json!({"error": "invalid token"})),
            "refused the token",
        ),
        (
            Reply::json(404, json!({"error": "not found"})),
            "not registered",
        ),
        (Reply::json(500, json!({"error": "boom"})), "internal error"),
        (
            Reply::raw(200, "text/html", "<html>hi</html>"),
            "answered unexpectedly",
        ),
        (
            Reply::json(201, json!({"status": "pending"})),
            "answered unexpectedly",
        ),
    ];
    for (reply, needle) in cases {
        sim.script("POST", &path, vec![reply]);
        failed(&mut child, "create_request", args.clone(), needle);
    }
    let all = child.stderr();
    assert!(!all.contains(TOKEN));
}

// ---------------------------------------------------------------- plugins

#[test]
fn install_plugin_reports_what_the_platform_said() {
    let sim = sim();
    let home = TempDir::new("runtime-plugins");
    let mut child = start(&sim, &home, &[]);

    let installed = call(
        &mut child,
        "install_plugin",
        json!({"source": "github://molecule-ai/browser-tools"}),
    );
    assert!(!is_error(&installed), "{installed}");
    assert_eq!(
        installed["structuredContent"],
        json!({"plugin": "browser-tools", "source": "github://molecule-ai/browser-tools", "restarting": true})
    );
    assert!(text(&installed).contains("restarting"), "{installed}");
    assert_eq!(
        sim.plugins(WS),
        vec![json!({"source": "github://molecule-ai/browser-tools"})]
    );

    failed(
        &mut child,
        "install_plugin",
        json!({"source": "github://someone-else/miner"}),
        "not on this platform's plugin allowlist",
    );
    failed(
        &mut child,
        "install_plugin",
        json!({"source": "browser-tools"}),
        "Hint: \"use github://owner/repo or local://name\"",
    );
    sim.script(
        "POST",
        &format!("/workspaces/{WS}/plugins"),
        vec![Reply::json(401, json!({"error": "not your workspace"}))],
    );
    failed(
        &mut child,
        "install_plugin",
        json!({"source": "github://molecule-ai/x"}),
        "is not yours",
    );
    sim.script(
        "POST",
        &format!("/workspaces/{WS}/plugins"),
        vec![Reply::json(502, json!({"error": "bad gateway"}))],
    );
    failed(
        &mut child,
        "install_plugin",
        json!({"source": "github://molecule-ai/x"}),
        "internal error",
    );
    assert_eq!(sim.plugins(WS).len(), 1);
}

#[test]
fn cancelled_plugin_installs_free_their_workers() {
    let sim = sim();
    let home = TempDir::new("runtime-plugins-cancel");
    let mut child = start(&sim, &home, &[]);
    // More hung installs than the server has workers (16).
    const HUNG: usize = 20;
    sim.script(
        "POST",
        &format!("/workspaces/{WS}/plugins"),
        vec![Reply::Hang(Duration::from_secs(60)); HUNG],
    );
    for i in 0..HUNG {
        child
            .send_json(&json!({"jsonrpc": "2.0", "id": format!("slow-{i}"), "method": "tools/call",
                "params": {"name": "install_plugin", "arguments": {"source": "github://molecule-ai/x"}}}))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..HUNG {
        child
            .send_json(
                &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": format!("slow-{i}")}}),
            )
            .unwrap();
    }
    // Were the installs not abandoned, every worker would still wait on one.
    let answer = call(&mut child, "task_add", json!({"title": "still served"}));
    assert!(!is_error(&answer), "{answer}");
}

// ---------------------------------------------------------------- desktop

/// A directory holding fake `xdotool`, `maim` and `xdg-open` scripts that
/// append their argv (one argument per line, then `--end--`) to
/// `argv.log` beside them.
fn fake_desktop(home: &TempDir) -> std::path::PathBuf {
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = r#"#!/bin/sh
log="$(dirname "$0")/argv.log"
printf '%s\n' "$(basename "$0")" >> "$log"
for a in "$@"; do printf '%s\n' "$a" >> "$log"; done
printf -- '--end--\n' >> "$log"
case "$1" in
  getdisplaygeometry) echo "1920 1080" ;;
esac
if [ "$(basename "$0")" = maim ]; then printf 'PNG' > "$1"; fi
exit 0
"#;
    for name in ["xdotool", "maim", "xdg-open"] {
        let path = bin.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    bin
}

/// The logged invocations, each as its argv (program name first).
fn invocations(bin: &std::path::Path) -> Vec<Vec<String>> {
    let log = std::fs::read_to_string(bin.join("argv.log")).unwrap_or_default();
    let mut calls = vec![Vec::new()];
    for line in log.lines() {
        if line == "--end--" {
            calls.push(Vec::new());
        } else {
            calls.last_mut().unwrap().push(line.to_string());
        }
    }
    calls.pop();
    calls
}

fn start_with_desktop(sim: &Simulator, home: &TempDir) -> (Child, std::path::PathBuf) {
    let bin = fake_desktop(home);
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let child = start(sim, home, &[("DISPLAY", ":99"), ("PATH", &path)]);
    (child, bin)
}

#[test]
fn desktop_tools_are_offered_only_with_a_display_and_xdotool() {
    let sim = sim();
    let home = TempDir::new("runtime-desktop-list");
    let (mut child, bin) = start_with_desktop(&sim, &home);
    assert_eq!(child.tool_names(SOON), support::platform_tools(true));
    assert_eq!(support::platform_tools(true).len(), 31);

    // xdotool on PATH but no DISPLAY: 25 tools, and calls are unknown tools.
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let mut bare = start(&sim, &home, &[("PATH", &path)]);
    let names = bare.tool_names(SOON);
    assert_eq!(names, support::platform_tools(false));
    assert_eq!(names.len(), 25);
    let refused = bare
        .request(
            "tools/call",
            json!({"name": "desktop_status", "arguments": {}}),
            SOON,
        )
        .unwrap();
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    // A display but no xdotool: 25 tools too.
    let mut no_tool = start(&sim, &home, &[("DISPLAY", ":99")]);
    assert_eq!(no_tool.tool_names(SOON).len(), 25);
}

#[test]
fn desktop_tools_pass_arguments_as_argv_never_through_a_shell() {
    let sim = sim();
    let home = TempDir::new("runtime-desktop-argv");
    let (mut child, bin) = start_with_desktop(&sim, &home);

    let status = ok(&mut child, "desktop_status", json!({}));
    assert_eq!(status["display"], ":99");
    assert_eq!(status["reachable"], true);
    assert_eq!(status["width"], 1920);
    assert_eq!(status["height"], 1080);

    ok(
        &mut child,
        "desktop_click",
        json!({"x": 10, "y": 20, "button": "right"}),
    );
    let marker = home.join("pwned");
    let evil = format!(
        "$(touch {m}); `touch {m}` ; touch {m} -- --help",
        m = marker.display()
    );
    ok(
        &mut child,
        "desktop_type",
        json!({"text": evil, "delay_ms": 5}),
    );
    ok(&mut child, "desktop_key", json!({"keys": "ctrl+l Return"}));
    ok(
        &mut child,
        "desktop_open_url",
        json!({"url": "https://example.com/a?b=c&d=$(id)"}),
    );
    let shot = home.join("shot.png");
    let taken = ok(
        &mut child,
        "desktop_screenshot",
        json!({"path": shot.to_str().unwrap()}),
    );
    assert_eq!(taken["path"], shot.to_str().unwrap());
    assert_eq!(std::fs::read(&shot).unwrap(), b"PNG");

    let calls = invocations(&bin);
    let expect: Vec<Vec<String>> = [
        vec!["xdotool", "getdisplaygeometry"],
        vec!["xdotool", "mousemove", "10", "20", "click", "3"],
        vec!["xdotool", "type", "--delay", "5", "--", evil.as_str()],
        vec!["xdotool", "key", "--", "ctrl+l", "Return"],
        vec!["xdg-open", "https://example.com/a?b=c&d=$(id)"],
        vec!["maim", shot.to_str().unwrap()],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(calls, expect);
    assert!(!marker.exists(), "an argument reached a shell");
}

#[test]
fn desktop_tools_refuse_bad_input_and_report_failures() {
    let sim = sim();
    let home = TempDir::new("runtime-desktop-bad");
    let (mut child, bin) = start_with_desktop(&sim, &home);
    for url in [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://a b",
        "-https://x",
    ] {
        failed(
            &mut child,
            "desktop_open_url",
            json!({"url": url}),
            "http:// or https://",
        );
    }
    failed(
        &mut child,
        "desktop_key",
        json!({"keys": "ctrl+c; rm"}),
        "not a key name",
    );
    failed(
        &mut child,
        "desktop_click",
        json!({"x": 1, "y": 2, "button": "fourth"}),
        "not a mouse button",
    );
    failed(
        &mut child,
        "desktop_screenshot",
        json!({"path": "relative.png"}),
        "must be absolute",
    );
    failed(
        &mut child,
        "desktop_type",
        json!({"text": "z".repeat(20_000)}),
        "1 to 10000",
    );
    assert!(invocations(&bin).is_empty(), "{:?}", invocations(&bin));

    // A failing xdotool is reported with what it said.
    std::fs::write(
        bin.join("xdotool"),
        "#!/bin/sh\necho 'Error: Can'\"'\"'t open display: :99' >&2\nexit 1\n",
    )
    .unwrap();
    failed(
        &mut child,
        "desktop_click",
        json!({"x": 1, "y": 1}),
        "open display",
    );
    let status = ok(&mut child, "desktop_status", json!({}));
    assert_eq!(status["reachable"], false, "{status}");

    // Without a path, each screenshot gets a new file in the temp directory.
    let shots: Vec<String> = (0..2)
        .map(|_| {
            let taken = ok(&mut child, "desktop_screenshot", json!({}));
            taken["path"].as_str().unwrap().to_string()
        })
        .collect();
    for shot in &shots {
        assert!(shot.starts_with("/tmp/molecule-screenshot-"), "{shot}");
        assert_eq!(std::fs::read(shot).unwrap(), b"PNG");
        let _ = std::fs::remove_file(shot);
    }
    assert_ne!(shots[0], shots[1]);
}

// ---------------------------------------------------------------- per-workspace platform URL

#[test]
fn each_workspace_uses_its_own_platform_url_for_every_call() {
    const A: &str = "aaaaaaaa-1111-4222-8333-444455556666";
    const B: &str = "bbbbbbbb-1111-4222-8333-444455556666";
    const TA: &str = "tok-url-a-0011223344556677";
    const TB: &str = "tok-url-b-8899aabbccddeeff";
    let (sim_a, sim_b) = (Simulator::start(), Simulator::start());
    sim_a.add_workspace(A, Some(TA));
    sim_b.add_workspace(B, Some(TB));
    let home = TempDir::new("runtime-platform-urls");
    let list = json!([
        {"id": A, "token": TA, "platform_url": sim_a.url()},
        {"id": B, "token": TB, "platform_url": sim_b.url()},
    ])
    .to_string();
    let configs = home.join("configs").to_string_lossy().into_owned();
    let url_a = sim_a.url();
    let mut child = Child::spawn(
        home.path(),
        &[
            ("PLATFORM_URL", url_a.as_str()),
            ("MOLECULE_WORKSPACES", list.as_str()),
            ("CONFIGS_DIR", configs.as_str()),
            ("MOLECULE_MCP_POLL_SECS", "0.2"),
            ("MOLECULE_MCP_HEARTBEAT_SECS", "0.3"),
        ],
    );
    child.initialize("platform-url-test");

    for (sim, ws) in [(&sim_a, A), (&sim_b, B)] {
        assert!(sim.wait_for_requests("/registry/register", 1, SOON), "{ws}");
        assert!(
            sim.wait_for_requests("/registry/heartbeat", 1, SOON),
            "{ws}"
        );
        let activity = format!("/workspaces/{ws}/activity");
        assert!(
            sim.wait_for_requests(&activity, 1, SOON),
            "{ws} never polled"
        );
    }

    // The inbox of B: read from B's platform, acknowledged there.
    let id = sim_b.inject_canvas(B, "for b");
    let got = call(&mut child, "wait_for_message", json!({"timeout_secs": 10}));
    assert!(text(&got).contains(&id), "{got}");
    call(&mut child, "inbox_pop", json!({"activity_id": id}));
    let ack = format!("/workspaces/{B}/activity/ack");
    assert!(
        sim_b.wait_for_requests(&ack, 1, SOON),
        "no ack on B's platform"
    );

    // Tools acting as B go to B's platform, as A to A's.
    for (ws, sim) in [(A, &sim_a), (B, &sim_b)] {
        let saved = call(
            &mut child,
            "commit_memory",
            json!({"content": format!("fact of {ws}"), "source_workspace_id": ws}),
        );
        assert!(!is_error(&saved), "{saved}");
        let raised = call(
            &mut child,
            "create_request",
            json!({"kind": "task", "title": "t", "source_workspace_id": ws}),
        );
        assert!(!is_error(&raised), "{raised}");
        assert_eq!(sim.user_requests(ws).len(), 1, "{ws}");
        let info = call(
            &mut child,
            "get_workspace_info",
            json!({"source_workspace_id": ws}),
        );
        assert!(!is_error(&info), "{info}");
    }

    // Nothing about one workspace ever reached the other's platform.
    for (sim, foreign, foreign_token) in [(&sim_a, B, TB), (&sim_b, A, TA)] {
        for r in sim.requests() {
            let body = String::from_utf8_lossy(&r.body);
            assert!(
                !r.path.contains(foreign) && !body.contains(foreign),
                "{} {} reached the wrong platform",
                r.method,
                r.path
            );
            assert_ne!(
                r.header("authorization"),
                Some(format!("Bearer {foreign_token}").as_str())
            );
        }
    }
}

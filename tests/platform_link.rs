//! The platform link through the real binary against the simulator:
//! register, heartbeat, auth escalation, inbound secret, multi-workspace,
//! shutdown, and doctor (platform.md §2–6).

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::json;
use support::sim::{Recorded, Reply, Simulator};
use support::{Child, TempDir};

const WS: &str = "0f8e9a6b-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const TOKEN: &str = "tok-live-9f8e7d6c5b4a39281706";
const SECS: Duration = Duration::from_secs(1);

/// The environment of a single-workspace agent against `sim`.
fn env<'a>(sim_url: &'a str, configs: &'a str, interval: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("PLATFORM_URL", sim_url),
        ("WORKSPACE_ID", WS),
        ("MOLECULE_WORKSPACE_TOKEN", TOKEN),
        ("CONFIGS_DIR", configs),
        ("MOLECULE_MCP_HEARTBEAT_SECS", interval),
        ("MOLECULE_MCP_DISABLE_INBOX", "1"),
    ]
}

/// molecule-mcp against `url`, state in `home/configs`, a beat every
/// `interval` s, inbox off; `identity` names the workspaces and tokens.
fn spawn_agent(url: &str, home: &TempDir, interval: &str, identity: &[(&str, &str)]) -> Child {
    let configs = home.join("configs");
    let mut vars = vec![
        ("PLATFORM_URL", url),
        ("CONFIGS_DIR", configs.to_str().unwrap()),
        ("MOLECULE_MCP_HEARTBEAT_SECS", interval),
        ("MOLECULE_MCP_DISABLE_INBOX", "1"),
    ];
    vars.extend_from_slice(identity);
    Child::spawn(home.path(), &vars)
}

/// The single workspace `WS` with `TOKEN`, plus `extra`.
fn start(sim: &Simulator, home: &TempDir, interval: &str, extra: &[(&str, &str)]) -> Child {
    let mut identity = vec![("WORKSPACE_ID", WS), ("MOLECULE_WORKSPACE_TOKEN", TOKEN)];
    identity.extend_from_slice(extra);
    spawn_agent(&sim.url(), home, interval, &identity)
}

fn beats(sim: &Simulator) -> Vec<Recorded> {
    sim.requests_to("/registry/heartbeat")
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("[ERROR]")).collect()
}

#[test]
fn register_sends_the_contract_body_and_headers() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-register");
    let _child = start(
        &sim,
        &home,
        "20",
        &[
            ("MOLECULE_AGENT_NAME", "Research bot"),
            ("MOLECULE_AGENT_DESCRIPTION", "finds things"),
            ("MOLECULE_AGENT_SKILLS", "search, summarise ,,"),
        ],
    );
    assert!(sim.wait_for_requests("/registry/register", 1, 5 * SECS));
    let reg = &sim.requests_to("/registry/register")[0];
    assert_eq!(reg.method, "POST");
    assert_eq!(
        reg.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(reg.header("origin"), Some(sim.url().as_str()));
    assert_eq!(reg.header("content-type"), Some("application/json"));
    assert_eq!(
        reg.json().unwrap(),
        json!({
            "id": WS,
            "url": "",
            "agent_card": {
                "name": "Research bot",
                "description": "finds things",
                "skills": [{"name": "search"}, {"name": "summarise"}],
            },
            "delivery_mode": "poll",
        })
    );
    assert!(support::eventually(2 * SECS, || sim.is_registered(WS)));
}

#[test]
fn default_agent_card_has_no_description_key() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-card");
    let _child = start(&sim, &home, "20", &[]);
    assert!(sim.wait_for_requests("/registry/register", 1, 5 * SECS));
    let body = sim.requests_to("/registry/register")[0].json().unwrap();
    assert_eq!(
        body["agent_card"],
        json!({"name": "molecule-mcp-0f8e9a6b", "skills": []})
    );
}

#[test]
fn heartbeats_carry_the_contract_body_at_the_configured_interval() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-beat");
    let started = Instant::now();
    let _child = start(&sim, &home, "1", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 1, 5 * SECS));
    // The first beat follows the register at once.
    let first = beats(&sim)[0].at;
    let reg = sim.requests_to("/registry/register")[0].at;
    assert!(
        first >= reg && first - reg < Duration::from_millis(1500),
        "first beat came late"
    );
    assert!(sim.wait_for_requests("/registry/heartbeat", 4, 10 * SECS));
    let window = started.elapsed();
    let list = beats(&sim);
    // Early-only jitter: never more beats than one per 0.9 s, never fewer
    // than the interval allows (with slack for a loaded machine).
    let max = (window.as_secs_f64() / 0.9).ceil() as usize + 1;
    assert!(list.len() <= max, "{} beats in {window:?}", list.len());
    for pair in list.windows(2) {
        let gap = pair[1].at - pair[0].at;
        // Beats are scheduled 0.9–1 s apart (the exact bound is a table
        // row); the slack here is for delivery delays on a busy machine.
        assert!(
            gap >= Duration::from_millis(700),
            "beat gap {gap:?} is far below interval − 10 %"
        );
        assert!(
            gap <= Duration::from_millis(2500),
            "beat gap {gap:?} is far above the interval"
        );
    }
    let body = list[3].json().unwrap();
    assert_eq!(body["workspace_id"], WS);
    assert_eq!(body["error_rate"], 0.0);
    assert_eq!(body["sample_error"], "");
    assert_eq!(body["active_tasks"], 0);
    assert!(body["uptime_seconds"].as_u64().unwrap() >= 2, "{body}");
    assert_eq!(
        list[3].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

fn refused_at_register(status: u16) {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.script(
        "POST",
        "/registry/register",
        vec![Reply::json(status, json!({"error": "invalid token"}))],
    );
    let home = TempDir::new("link-refused");
    let started = Instant::now();
    let mut child = start(&sim, &home, "20", &[]);
    let exit = child
        .wait_exit(2 * SECS)
        .expect("exit 3 within 2 s of start");
    assert_eq!(exit.code(), Some(3), "stderr: {}", child.stderr());
    assert!(started.elapsed() < 2 * SECS);
    let err = child.stderr();
    assert!(err.contains(&status.to_string()), "{err}");
    assert!(err.contains(WS), "{err}");
    assert!(err.contains("Tokens tab"), "{err}");
    assert!(err.to_lowercase().contains("regenerate"), "{err}");
    assert!(!err.contains(TOKEN), "token leaked: {err}");
    assert!(
        beats(&sim).is_empty(),
        "no heartbeat after a refused register"
    );
}

#[test]
fn register_401_exits_3_with_the_message() {
    refused_at_register(401);
}

#[test]
fn register_403_exits_3_with_the_message() {
    refused_at_register(403);
}

#[test]
fn register_503_keeps_running_and_registers_later() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.script(
        "POST",
        "/registry/register",
        vec![Reply::status(503, "maintenance")],
    );
    let home = TempDir::new("link-503");
    let mut child = start(&sim, &home, "20", &[]);
    assert!(
        sim.wait_for_requests("/registry/register", 2, 6 * SECS),
        "register was not retried"
    );
    assert!(support::eventually(2 * SECS, || sim.is_registered(WS)));
    assert!(
        child.wait_exit(Duration::from_millis(200)).is_none(),
        "the process ended"
    );
    let err = child.stderr();
    assert!(err.contains("503"), "the failure was not reported: {err}");
    // Heartbeats started after the first answer, not after the retry.
    assert!(!beats(&sim).is_empty());
}

#[test]
fn three_401_beats_make_one_error_then_silence_until_the_23rd() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.script_always(
        "POST",
        "/registry/heartbeat",
        Reply::json(401, json!({"error": "invalid token"})),
    );
    let home = TempDir::new("link-401");
    let child = start(&sim, &home, "0.05", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 12, 10 * SECS));
    // Let the log catch up with the beats counted.
    assert!(child.wait_stderr_contains("[ERROR]", 2 * SECS));
    let err = child.stderr();
    let errors = error_lines(&err);
    assert_eq!(errors.len(), 1, "{err}");
    let e = errors[0];
    for needle in [WS, "revoked", "Tokens tab", "regenerate", "restart"] {
        assert!(e.contains(needle), "missing {needle:?} in {e}");
    }
    // The diagnosis is in the same line: the simulator still knows the
    // workspace, so the token was rotated or revoked.
    assert!(e.contains("still exists"), "{e}");
    assert_eq!(sim.requests_to(&format!("/workspaces/{WS}")).len(), 1);
    let warnings: Vec<_> = err
        .lines()
        .filter(|l| l.contains("[WARN]") && l.contains("401"))
        .collect();
    assert!(warnings.iter().any(|l| l.contains("1/3")), "{err}");
    assert!(warnings.iter().any(|l| l.contains("2/3")), "{err}");

    assert!(sim.wait_for_requests("/registry/heartbeat", 30, 20 * SECS));
    let deadline = Instant::now() + 2 * SECS;
    while error_lines(&child.stderr()).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = child.stderr();
    let errors = error_lines(&err);
    assert_eq!(errors.len(), 2, "expected errors at 3 and 23 only: {err}");
    assert!(
        errors[1].contains(WS) && errors[1].contains("Tokens tab"),
        "{}",
        errors[1]
    );
    assert!(!err.contains(TOKEN));
}

#[test]
fn a_2xx_between_401s_resets_the_count() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let deny = || Reply::json(401, json!({"error": "invalid token"}));
    sim.script(
        "POST",
        "/registry/heartbeat",
        vec![deny(), deny(), Reply::Delay(Duration::ZERO), deny()],
    );
    let home = TempDir::new("link-reset");
    let child = start(&sim, &home, "0.05", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 8, 10 * SECS));
    let err = child.stderr();
    assert!(error_lines(&err).is_empty(), "{err}");
    assert!(err.contains("1/3"), "{err}");
}

#[test]
fn server_errors_never_escalate() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.script(
        "POST",
        "/registry/heartbeat",
        vec![Reply::status(500, "boom"); 5],
    );
    let home = TempDir::new("link-500");
    let child = start(&sim, &home, "0.05", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 8, 10 * SECS));
    let err = child.stderr();
    assert!(error_lines(&err).is_empty(), "{err}");
    assert!(!err.contains("revoked"), "{err}");
    assert!(err.contains("500"), "the 500s were not reported: {err}");
}

#[test]
fn a_lookup_that_fails_is_not_taken_for_an_existing_workspace() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.script_always(
        "POST",
        "/registry/heartbeat",
        Reply::json(401, json!({"error": "invalid token"})),
    );
    sim.script_always(
        "GET",
        &format!("/workspaces/{WS}"),
        Reply::status(503, "maintenance"),
    );
    let home = TempDir::new("link-diag-503");
    let child = start(&sim, &home, "0.05", &[]);
    assert!(
        child.wait_stderr_contains("[ERROR]", 10 * SECS),
        "{}",
        child.stderr()
    );
    let err = child.stderr();
    let errors = error_lines(&err);
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("could not confirm"), "{err}");
    assert!(errors[0].contains("HTTP 503"), "{err}");
    assert!(!errors[0].contains("still exists,"), "{err}");
}

#[test]
fn a_deleted_workspace_is_diagnosed_with_its_removal_time() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-410");
    let child = start(&sim, &home, "0.05", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 1, 5 * SECS));
    sim.delete_workspace(WS);
    assert!(
        child.wait_stderr_contains("deleted (removed_at", 10 * SECS),
        "{}",
        child.stderr()
    );
    let err = child.stderr();
    let errors = error_lines(&err);
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("confirms the workspace was deleted"),
        "{err}"
    );
}

#[test]
fn inbound_secret_is_saved_0600_once_and_rewritten_only_on_change() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.set_inbound_secret(WS, "inbound-one-1234567890");
    let home = TempDir::new("link-secret");
    let child = start(&sim, &home, "0.1", &[("MOLECULE_MCP_VERBOSE", "1")]);
    let path = home.join("configs/.platform_inbound_secret");
    assert!(sim.wait_for_requests("/registry/heartbeat", 5, 10 * SECS));
    assert_eq!(fs::read_to_string(&path).unwrap(), "inbound-one-1234567890");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let saves = |c: &Child| c.stderr().matches("inbound secret saved").count();
    assert_eq!(
        saves(&child),
        1,
        "rewritten although unchanged: {}",
        child.stderr()
    );
    sim.set_inbound_secret(WS, "inbound-two-0987654321");
    let n = beats(&sim).len();
    assert!(sim.wait_for_requests("/registry/heartbeat", n + 3, 10 * SECS));
    assert_eq!(fs::read_to_string(&path).unwrap(), "inbound-two-0987654321");
    assert_eq!(saves(&child), 2);
    let leftovers: Vec<_> = fs::read_dir(home.join("configs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Secrets are redacted from the log like tokens.
    assert!(!child.stderr().contains("inbound-two-0987654321"));
}

#[test]
fn a_read_only_configs_dir_warns_and_the_heartbeat_goes_on() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.set_inbound_secret(WS, "inbound-ro-1234567890");
    let home = TempDir::new("link-ro");
    let configs = home.join("configs");
    fs::create_dir_all(&configs).unwrap();
    // Root ignores permission bits, so block the write with a directory
    // where the temp file's rename must land.
    fs::create_dir_all(configs.join(".platform_inbound_secret/x")).unwrap();
    let child = start(&sim, &home, "0.1", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 6, 10 * SECS));
    assert!(child.wait_stderr_contains("could not save the inbound secret", 2 * SECS));
    let err = child.stderr();
    assert!(err.contains("retrying on the next heartbeat"), "{err}");
    // Retried on later beats, and the beats keep coming.
    assert!(
        err.matches("could not save the inbound secret").count() >= 2,
        "{err}"
    );
    assert!(error_lines(&err).is_empty(), "{err}");
}

#[test]
fn a_rewritten_token_file_is_used_by_the_next_beat() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-rotate");
    let token_file = home.join("token");
    fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let child = spawn_agent(
        &sim.url(),
        &home,
        "0.1",
        &[
            ("WORKSPACE_ID", WS),
            (
                "MOLECULE_WORKSPACE_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
        ],
    );
    assert!(sim.wait_for_requests("/registry/heartbeat", 2, 5 * SECS));
    let rotated = "tok-rotated-1122334455667788";
    sim.set_token(WS, rotated);
    fs::write(&token_file, rotated).unwrap();
    let bearer = format!("Bearer {rotated}");
    assert!(
        sim.wait_for(
            |reqs| reqs
                .iter()
                .any(|r| r.path == "/registry/heartbeat"
                    && r.header("authorization") == Some(&bearer)),
            5 * SECS
        ),
        "the new token was never used"
    );
    let err = child.stderr();
    assert!(!err.contains(rotated) && !err.contains(TOKEN), "{err}");
}

#[test]
fn disable_heartbeat_sends_nothing() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-disabled");
    let mut child = start(
        &sim,
        &home,
        "0.05",
        &[("MOLECULE_MCP_DISABLE_HEARTBEAT", "1")],
    );
    // Prove the process is up and serving before judging its silence.
    let init = child.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}}),
        10 * SECS,
    );
    assert!(init.is_some_and(|a| a.get("result").is_some()));
    // Ten heartbeat intervals of nothing.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.wait_exit(Duration::ZERO).is_none());
    let sent: Vec<_> = sim.requests().into_iter().map(|r| r.path).collect();
    assert!(!sent.iter().any(|p| p.starts_with("/registry")), "{sent:?}");
}

#[test]
fn two_workspaces_register_and_beat_with_their_own_tokens() {
    let sim = Simulator::start();
    let (a, b) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000002",
    );
    let (ta, tb) = ("tok-a-11112222333344445555", "tok-b-66667777888899990000");
    sim.add_workspace(a, Some(ta));
    sim.add_workspace(b, Some(tb));
    let home = TempDir::new("link-multi");
    let list = json!([{"id": a, "token": ta}, {"id": b, "token": tb}]).to_string();
    let _child = spawn_agent(&sim.url(), &home, "0.1", &[("MOLECULE_WORKSPACES", &list)]);
    assert!(sim.wait_for(
        |reqs| {
            let count = |id: &str, tok: &str| {
                reqs.iter()
                    .filter(|r| r.path == "/registry/heartbeat")
                    .filter(|r| r.json().is_some_and(|b| b["workspace_id"] == id))
                    .filter(|r| r.header("authorization") == Some(&format!("Bearer {tok}")))
                    .count()
            };
            count(a, ta) >= 3 && count(b, tb) >= 3
        },
        10 * SECS
    ));
    assert!(support::eventually(2 * SECS, || sim.is_registered(a) && sim.is_registered(b)));
    for r in sim.requests_to("/registry/register") {
        let id = r.json().unwrap()["id"].as_str().unwrap().to_string();
        let expected = if id == a { ta } else { tb };
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {expected}").as_str())
        );
    }
}

#[test]
fn workspaces_sharing_an_id_prefix_keep_separate_secret_files() {
    let sim = Simulator::start();
    let (a, b) = (
        "abcdef01-0000-4000-8000-000000000001",
        "abcdef01-0000-4000-8000-000000000002",
    );
    let (ta, tb) = ("tok-a-11112222333344445555", "tok-b-66667777888899990000");
    sim.add_workspace(a, Some(ta));
    sim.add_workspace(b, Some(tb));
    sim.set_inbound_secret(a, "inbound-a-1234567890");
    sim.set_inbound_secret(b, "inbound-b-0987654321");
    let home = TempDir::new("link-twins");
    let list = json!([{"id": a, "token": ta}, {"id": b, "token": tb}]).to_string();
    let configs = home.join("configs");
    let _child = spawn_agent(&sim.url(), &home, "0.1", &[("MOLECULE_WORKSPACES", &list)]);
    let file = |id: &str| configs.join(format!(".platform_inbound_secret_{id}"));
    let read = |id: &str| fs::read_to_string(file(id)).unwrap_or_default();
    assert!(
        support::eventually(10 * SECS, || {
            read(a) == "inbound-a-1234567890" && read(b) == "inbound-b-0987654321"
        }),
        "a: {:?} b: {:?}",
        read(a),
        read(b)
    );
    assert!(!configs.join(".platform_inbound_secret_abcdef01").exists());
}

#[test]
fn a_trailing_slash_never_makes_a_double_slash() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-slash");
    let url = format!("{}/", sim.url());
    let identity = [("WORKSPACE_ID", WS), ("MOLECULE_WORKSPACE_TOKEN", TOKEN)];
    let _child = spawn_agent(&url, &home, "0.1", &identity);
    assert!(sim.wait_for_requests("/registry/heartbeat", 2, 5 * SECS));
    for r in sim.requests() {
        assert!(!r.path.contains("//"), "{}", r.path);
        assert_eq!(r.header("origin"), Some(sim.url().as_str()));
    }
}

#[test]
fn a_hung_platform_never_delays_shutdown() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.script_always(
        "POST",
        "/registry/heartbeat",
        Reply::Hang(Duration::from_secs(30)),
    );
    let home = TempDir::new("link-hang");
    let mut child = start(&sim, &home, "0.1", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 1, 5 * SECS));
    std::thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    child.close_stdin();
    let exit = child.wait_exit(3 * SECS).expect("the process did not end");
    assert_eq!(exit.code(), Some(0));
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "shutdown took {:?}",
        asked.elapsed()
    );
    let n = sim.requests().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sim.requests().len(), n, "a request went out after exit");
}

#[test]
fn sigterm_ends_the_process_cleanly() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-sigterm");
    let mut child = start(&sim, &home, "0.1", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 2, 5 * SECS));
    let asked = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child
        .wait_exit(3 * SECS)
        .expect("SIGTERM did not end the process");
    assert_eq!(exit.code(), Some(0));
    assert!(asked.elapsed() < 2 * SECS);
    let n = beats(&sim).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(beats(&sim).len(), n);
}

#[test]
fn no_token_on_stderr_at_any_verbosity() {
    for verbose in [None, Some("1")] {
        let sim = Simulator::start();
        sim.add_workspace(WS, Some(TOKEN));
        // Failures make the log quote bodies: echo the token back in them.
        sim.script(
            "POST",
            "/registry/register",
            vec![Reply::status(
                500,
                &format!("bad bearer Bearer {TOKEN} token={TOKEN}"),
            )],
        );
        sim.script(
            "POST",
            "/registry/heartbeat",
            vec![Reply::status(502, &format!("echo {TOKEN}")); 2],
        );
        let home = TempDir::new("link-leak");
        let extra: Vec<(&str, &str)> = verbose
            .map(|v| ("MOLECULE_MCP_VERBOSE", v))
            .into_iter()
            .collect();
        let mut child = start(&sim, &home, "0.1", &extra);
        assert!(sim.wait_for_requests("/registry/register", 2, 6 * SECS));
        assert!(sim.wait_for_requests("/registry/heartbeat", 3, 6 * SECS));
        child.close_stdin();
        child.wait_exit(3 * SECS).expect("exits on EOF");
        let err = child.stderr();
        assert!(err.contains("500") && err.contains("502"), "{err}");
        assert!(
            !err.contains(TOKEN),
            "token leaked at verbosity {verbose:?}: {err}"
        );
    }
}

/// Runs `molecule-mcp doctor` against `sim`; its exit and its stdout.
fn doctor(sim: &Simulator, home: &TempDir) -> (std::process::ExitStatus, String) {
    let mut child = Child::spawn_args(
        &["doctor"],
        home.path(),
        &env(&sim.url(), home.join("configs").to_str().unwrap(), "20"),
    );
    let exit = child.wait_exit(10 * SECS).expect("doctor hung");
    let mut out = String::new();
    while let Some(line) = child.recv_line(Duration::from_millis(100)) {
        out.push_str(&line);
        out.push('\n');
    }
    (exit, out)
}

#[test]
fn doctor_passes_against_a_healthy_platform() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.set_require_origin(true);
    let home = TempDir::new("doctor-ok");
    let (exit, out) = doctor(&sim, &home);
    assert_eq!(exit.code(), Some(0), "{out}");
    assert!(out.contains("OK") && !out.contains("FAIL"), "{out}");
    assert!(
        sim.requests_to("/registry/register").is_empty(),
        "doctor must never register"
    );
    assert_eq!(sim.requests_to("/registry/heartbeat").len(), 1);
    assert_eq!(sim.requests_to("/health").len(), 1);
}

#[test]
fn doctor_fails_with_a_hint_on_a_rejected_token() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("some-other-token-123456"));
    let home = TempDir::new("doctor-401");
    let (exit, out) = doctor(&sim, &home);
    assert_eq!(exit.code(), Some(1), "{out}");
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("401"), "{out}");
    assert!(out.contains("next:") && out.contains("Tokens tab"), "{out}");
    assert!(!out.contains(TOKEN));
}

#[test]
fn garbage_from_the_platform_is_a_warning_at_most() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.set_inbound_secret(WS, "inbound-good-1234567890");
    let raw = |body: Vec<u8>| Reply::Raw {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
    };
    sim.script(
        "POST",
        "/registry/heartbeat",
        vec![
            raw(b"<html><body>edge error</body></html>".to_vec()),
            raw(b"[1, 2, 3]".to_vec()),
            raw(vec![b'x'; 17 * 1024 * 1024]),
            Reply::json(200, json!({"platform_inbound_secret": 12345})),
            Reply::json(200, json!({"platform_inbound_secret": {"nested": true}})),
            Reply::json(200, json!({"platform_inbound_secret": "two words"})),
            Reply::Close,
            raw(b"{\"platform_inbound_secret\": \"trunc".to_vec()),
        ],
    );
    let home = TempDir::new("link-garbage");
    let mut child = start(&sim, &home, "0.05", &[]);
    // Eight scripted answers, then real ones: the thread survived them all.
    assert!(sim.wait_for_requests("/registry/heartbeat", 12, 15 * SECS));
    let path = home.join("configs/.platform_inbound_secret");
    assert!(sim.wait_for(|_| fs::read_to_string(&path).is_ok(), 5 * SECS));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "inbound-good-1234567890"
    );
    assert!(
        child.wait_exit(Duration::ZERO).is_none(),
        "the process died"
    );
    let err = child.stderr();
    assert!(!err.contains("panicked"), "{err}");
    assert!(error_lines(&err).is_empty(), "{err}");
    assert!(
        err.contains("larger than"),
        "the oversized answer was not reported: {err}"
    );
}

#[test]
fn the_heartbeat_echoes_the_latest_generation_and_logs_its_changes() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("link-generation");
    let child = start(&sim, &home, "0.3", &[("MOLECULE_MCP_VERBOSE", "1")]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 2, 5 * SECS));
    let observed = |r: &Recorded| r.json().unwrap()["observed_generation"].clone();
    assert!(
        beats(&sim).iter().all(|b| observed(b).is_null()),
        "a generation was sent before the platform gave one"
    );

    sim.set_generation(WS, Some(4));
    let seen = |n: i64| beats(&sim).iter().any(|b| observed(b) == json!(n));
    assert!(support::eventually(5 * SECS, || seen(4)), "4 never echoed");
    sim.set_generation(WS, Some(5));
    assert!(support::eventually(5 * SECS, || seen(5)), "5 never echoed");
    // An answer without a generation keeps the last one.
    sim.set_generation(WS, None);
    let count = beats(&sim).len();
    assert!(sim.wait_for_requests("/registry/heartbeat", count + 2, 5 * SECS));
    assert_eq!(observed(beats(&sim).last().unwrap()), json!(5));

    let err = child.stderr();
    let changes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("[INFO]") && l.contains("configuration generation"))
        .collect();
    assert_eq!(changes.len(), 2, "{err}");
    assert!(changes[1].contains("4 -> 5"), "{err}");
}

#[test]
fn a_503_about_credentials_is_a_server_error_not_a_revoked_token() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.script_always(
        "POST",
        "/registry/heartbeat",
        Reply::json(503, json!({"error": "cannot verify workspace credentials"})),
    );
    let home = TempDir::new("link-503-credentials");
    let child = start(&sim, &home, "0.2", &[]);
    assert!(sim.wait_for_requests("/registry/heartbeat", 6, 10 * SECS));
    let err = child.stderr();
    assert!(error_lines(&err).is_empty(), "{err}");
    assert!(!err.contains("/3"), "counted as an auth failure: {err}");
}

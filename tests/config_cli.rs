//! The command line and the configuration, seen from outside: the real
//! binary, a cleared environment, a throwaway HOME. Every configuration
//! fault must exit 2 with an operator-readable text on stderr and nothing on
//! stdout (the protocol channel); nothing may panic.

mod support;

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::TempDir;

const ID: &str = "00000000-0000-0000-0000-000000000000";
/// Nothing listens on the discard port; no test here needs the platform.
const URL: &str = "http://127.0.0.1:9";
const TOKEN: &str = "env-token-8d1e6f2a";
/// A process must be done well within this; only a hang comes near it.
const EXIT_LIMIT: Duration = Duration::from_secs(30);
/// The kernel refuses a single environment string over 128 KiB, so this is
/// as "huge" as a real environment value gets (1 MiB is covered in-process).
const HUGE: usize = 120 * 1024;

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// Exit 2, a clean stdout, no panic; returns stderr for further checks.
    fn config_error(&self) -> &str {
        assert_eq!(
            self.code,
            Some(2),
            "expected exit 2; stderr:\n{}",
            self.stderr
        );
        assert_eq!(self.stdout, "", "stdout must stay empty on exit 2");
        self.no_panic();
        &self.stderr
    }

    fn accepted(&self) {
        assert!(
            self.code.is_some(),
            "killed by a signal; stderr:\n{}",
            self.stderr
        );
        assert_ne!(
            self.code,
            Some(2),
            "a valid configuration was refused:\n{}",
            self.stderr
        );
        assert!(
            !self.stderr.contains("Currently missing"),
            "{}",
            self.stderr
        );
        self.no_panic();
    }

    fn no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
    }

    fn last_line(&self) -> &str {
        self.stderr.trim_end().lines().last().unwrap_or_default()
    }
}

/// One run of the binary: only PATH, HOME and the given variables set, stdin
/// closed, the heartbeat and inbox off so an accepted configuration ends at
/// once.
struct Run {
    home: TempDir,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
}

impl Run {
    fn new() -> Run {
        Run {
            home: TempDir::new("config-cli"),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// With `CONFIGS_DIR` inside the sandbox, so no default location is used.
    fn sandboxed() -> Run {
        let mut run = Run::new();
        let state = run.home.join("state");
        run.set("CONFIGS_DIR", state);
        run
    }

    /// All three required variables set and valid.
    fn complete() -> Run {
        let mut run = Run::sandboxed();
        run.set("WORKSPACE_ID", ID)
            .set("PLATFORM_URL", URL)
            .set("MOLECULE_WORKSPACE_TOKEN", TOKEN);
        run
    }

    fn set(&mut self, name: &str, value: impl Into<OsString>) -> &mut Run {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.into()));
        self
    }

    fn unset(&mut self, name: &str) -> &mut Run {
        self.env.retain(|(k, _)| k != name);
        self
    }

    fn arg(&mut self, arg: impl Into<OsString>) -> &mut Run {
        self.args.push(arg.into());
        self
    }

    fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.home.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, content).unwrap();
        path
    }

    fn run(&self) -> Outcome {
        let mut cmd = Command::new(support::bin());
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("MOLECULE_MCP_DISABLE_HEARTBEAT", "1")
            .env("MOLECULE_MCP_DISABLE_INBOX", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start the binary");
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + EXIT_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the binary") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the binary did not exit within {EXIT_LIMIT:?}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        Outcome {
            code: status.code(),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(unix)]
fn not_utf8() -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(vec![b'a', 0xff, 0xfe, b'z'])
}

// ---- nothing or part of it set ----

#[test]
fn nothing_set_names_all_three_and_where_to_get_a_token() {
    let run = Run::new();
    let out = run.run();
    let err = out.config_error();
    for name in [
        "WORKSPACE_ID",
        "PLATFORM_URL",
        "MOLECULE_WORKSPACE_TOKEN",
        "MOLECULE_WORKSPACE_TOKEN_FILE",
    ] {
        assert!(err.contains(name), "{name} not named:\n{err}");
    }
    assert!(err.contains("Tokens tab"), "{err}");
    assert_eq!(
        out.last_line(),
        "Currently missing: WORKSPACE_ID, PLATFORM_URL, MOLECULE_WORKSPACE_TOKEN"
    );
    assert!(
        !run.home.join(".molecule-workspace").exists(),
        "a refused start must not create the state directory"
    );
}

#[test]
fn each_missing_variable_is_listed_alone() {
    for absent in ["WORKSPACE_ID", "PLATFORM_URL", "MOLECULE_WORKSPACE_TOKEN"] {
        let mut run = Run::complete();
        run.unset(absent);
        let out = run.run();
        out.config_error();
        assert_eq!(out.last_line(), format!("Currently missing: {absent}"));
    }
}

#[test]
fn whitespace_only_values_count_as_missing() {
    for blank in ["WORKSPACE_ID", "PLATFORM_URL", "MOLECULE_WORKSPACE_TOKEN"] {
        let mut run = Run::complete();
        run.set(blank, " \t ");
        let out = run.run();
        out.config_error();
        assert_eq!(out.last_line(), format!("Currently missing: {blank}"));
    }
}

#[test]
fn two_missing_keep_the_documented_order() {
    let mut run = Run::sandboxed();
    run.set("MOLECULE_WORKSPACE_TOKEN", TOKEN);
    let out = run.run();
    out.config_error();
    assert_eq!(
        out.last_line(),
        "Currently missing: WORKSPACE_ID, PLATFORM_URL"
    );
}

// ---- the token ----

#[test]
fn token_from_the_environment_is_accepted() {
    Run::complete().run().accepted();
}

#[test]
fn token_from_token_file_is_accepted() {
    let mut run = Run::complete();
    let file = run.file("secrets/token", format!("{TOKEN}\n"));
    run.unset("MOLECULE_WORKSPACE_TOKEN")
        .set("MOLECULE_WORKSPACE_TOKEN_FILE", file);
    run.run().accepted();
}

#[test]
fn token_from_auth_token_in_configs_dir_is_accepted() {
    let mut run = Run::complete();
    run.unset("MOLECULE_WORKSPACE_TOKEN");
    run.file("state/.auth_token", TOKEN);
    run.run().accepted();
}

#[test]
fn invalid_auth_token_in_configs_dir_is_named() {
    let mut run = Run::complete();
    run.unset("MOLECULE_WORKSPACE_TOKEN");
    let file = run.file("state/.auth_token", "first second");
    let out = run.run();
    let err = out.config_error();
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("whitespace"), "{err}");
    assert!(
        !err.contains("first second"),
        "token content leaked:\n{err}"
    );
}

/// Each fault of `MOLECULE_WORKSPACE_TOKEN_FILE` exits 2 with its own text
/// naming the variable and the path, even with a valid `.auth_token` there
/// to fall back on (no silent fall-through).
fn token_file_fault(path: &Path, run: &mut Run, expect: &str) {
    run.unset("MOLECULE_WORKSPACE_TOKEN")
        .set("MOLECULE_WORKSPACE_TOKEN_FILE", path);
    run.file("state/.auth_token", "fallback-token-value");
    let out = run.run();
    let err = out.config_error();
    assert!(err.contains("MOLECULE_WORKSPACE_TOKEN_FILE"), "{err}");
    assert!(
        err.contains(&path.display().to_string()),
        "path not named:\n{err}"
    );
    assert!(err.contains(expect), "expected {expect:?} in:\n{err}");
    assert!(!err.contains("Currently missing"), "{err}");
}

#[test]
fn token_file_missing() {
    let mut run = Run::complete();
    let path = run.home.join("no-such-token");
    token_file_fault(&path, &mut run, "does not exist");
}

#[test]
fn token_file_unreadable() {
    // Tests may run as root, which reads any mode; a directory is unreadable
    // as a token file for everyone.
    let mut run = Run::complete();
    let dir = run.home.join("token-dir");
    fs::create_dir_all(&dir).unwrap();
    token_file_fault(&dir, &mut run, "is a directory");
}

#[cfg(unix)]
#[test]
fn token_file_without_read_permission() {
    use std::os::unix::fs::PermissionsExt;
    let mut run = Run::complete();
    let path = run.file("locked-token", TOKEN);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&path).is_ok() {
        // Running as root: permissions do not apply; covered by the directory case.
        return;
    }
    token_file_fault(&path, &mut run, "cannot be read");
}

#[test]
fn token_file_not_utf8() {
    let mut run = Run::complete();
    let path = run.file("latin1-token", [b't', 0xe9, b't', 0xe9]);
    token_file_fault(&path, &mut run, "not UTF-8");
}

#[test]
fn token_file_empty() {
    let mut run = Run::complete();
    let path = run.file("empty-token", " \n\n");
    token_file_fault(&path, &mut run, "is empty");
}

#[test]
fn token_file_with_inner_whitespace() {
    let mut run = Run::complete();
    let path = run.file("two-tokens", "token-one-abcdef token-two-ghijkl\n");
    token_file_fault(&path, &mut run, "whitespace inside the token");
    let out = run.run();
    assert!(
        !out.stderr.contains("token-one-abcdef"),
        "token leaked:\n{}",
        out.stderr
    );
}

#[test]
fn token_values_never_reach_stderr() {
    let mut run = Run::complete();
    run.set("MOLECULE_WORKSPACE_TOKEN", "leaky-part-one leaky-part-two");
    let out = run.run();
    let err = out.config_error();
    assert!(err.contains("MOLECULE_WORKSPACE_TOKEN"), "{err}");
    assert!(!err.contains("leaky-part"), "token leaked:\n{err}");

    let mut run = Run::complete();
    run.set("MOLECULE_WORKSPACE_TOKEN", "a-valid-but-secret-token")
        .set("PLATFORM_URL", "ftp://x");
    let out = run.run();
    assert!(!out.config_error().contains("a-valid-but-secret-token"));
}

// ---- values that are set but wrong ----

#[test]
fn platform_url_must_be_http_or_https() {
    for bad in [
        "ftp://acme.example",
        "acme.moleculesai.app",
        "https://",
        "http://host:99999",
    ] {
        let mut run = Run::complete();
        run.set("PLATFORM_URL", bad);
        let out = run.run();
        let err = out.config_error();
        assert!(err.contains("PLATFORM_URL"), "{bad}: {err}");
        assert!(!err.contains("Currently missing"), "{bad}: {err}");
    }
    let mut run = Run::complete();
    run.set("PLATFORM_URL", " http://127.0.0.1:9/ ");
    run.run().accepted();
}

#[test]
fn garbage_huge_and_non_utf8_values_are_named_without_panic() {
    let garbage: [(&str, &str); 8] = [
        ("PLATFORM_URL", "not a url"),
        ("WORKSPACE_ID", "../../etc"),
        ("MOLECULE_WORKSPACE_TOKEN", "tok\u{7}en"),
        ("MOLECULE_WORKSPACES", "{{{"),
        ("MOLECULE_MCP_HEARTBEAT_SECS", "soon"),
        ("MOLECULE_MCP_POLL_SECS", "0"),
        ("MOLECULE_MCP_POLL_TIMEOUT_SECS", "2.5"),
        ("MOLECULE_AGENT_NAME", ""),
    ];
    let huge = "x".repeat(HUGE);
    for (name, bad) in garbage {
        let mut values: Vec<OsString> = vec![OsString::from(huge.as_str())];
        if !bad.is_empty() {
            values.push(bad.into());
        }
        #[cfg(unix)]
        values.push(not_utf8());
        for value in values {
            if name == "MOLECULE_AGENT_NAME" && value.len() == HUGE {
                continue; // any text is a valid name
            }
            let mut run = Run::complete();
            run.set(name, value.clone());
            let out = run.run();
            let err = out.config_error();
            assert!(
                err.contains(name),
                "{name} not named for {:?}:\n{err}",
                short(&value)
            );
            assert!(err.len() < 16 * 1024, "{name}: the value was echoed whole");
        }
    }
}

fn short(value: &OsString) -> String {
    value.to_string_lossy().chars().take(40).collect()
}

// ---- several workspaces ----

fn multi(json: &str) -> Outcome {
    let mut run = Run::sandboxed();
    run.set("PLATFORM_URL", URL)
        .set("MOLECULE_WORKSPACES", json);
    run.run()
}

#[test]
fn multi_workspace_list_is_accepted_and_replaces_single_variables() {
    let mut run = Run::sandboxed();
    run.set("PLATFORM_URL", URL)
        .set("WORKSPACE_ID", "ignored because the list wins")
        .set(
            "MOLECULE_WORKSPACES",
            r#"[{"id": "ws-a", "token": "tok-a"}, {"id": "ws-b", "token": "tok-b", "platform_url": "http://127.0.0.1:9/"}]"#,
        );
    run.run().accepted();
}

#[test]
fn multi_workspace_errors_are_each_reported() {
    let cases = [
        ("[{\"id\": \"a\", \"token\": \"t\"", "not valid JSON"),
        ("{\"id\": \"a\", \"token\": \"t\"}", "must be a JSON array"),
        ("[]", "empty array"),
        ("[42]", "MOLECULE_WORKSPACES[0] must be an object"),
        (
            "[{\"token\": \"t\"}]",
            "MOLECULE_WORKSPACES[0].id is missing",
        ),
        (
            "[{\"id\": \" \", \"token\": \"t\"}]",
            "MOLECULE_WORKSPACES[0].id is blank",
        ),
        (
            "[{\"id\": \"a\"}]",
            "MOLECULE_WORKSPACES[0].token is missing",
        ),
        (
            "[{\"id\": \"a\", \"token\": \"\"}]",
            "MOLECULE_WORKSPACES[0].token is blank",
        ),
        (
            "[{\"id\": \"a\", \"token\": 5}]",
            "MOLECULE_WORKSPACES[0].token must be a string",
        ),
        (
            "[{\"id\": \"a\", \"token\": \"t1\"}, {\"id\": \"a\", \"token\": \"t2\"}]",
            "MOLECULE_WORKSPACES[1].id \"a\" repeats the id of MOLECULE_WORKSPACES[0]",
        ),
        (
            "[{\"id\": \"a\", \"token\": \"t\", \"platform_url\": \"gopher://x\"}]",
            "MOLECULE_WORKSPACES[0].platform_url",
        ),
    ];
    for (json, expect) in cases {
        let out = multi(json);
        let err = out.config_error();
        assert!(
            err.contains(expect),
            "{json}: expected {expect:?} in:\n{err}"
        );
    }
}

#[test]
fn invalid_json_says_line_and_column() {
    let out = multi("[\n  {\"id\": \"a\",, \"token\": \"t\"}\n]");
    let err = out.config_error();
    assert!(err.contains("line 2, column"), "{err}");
}

#[test]
fn multi_workspace_errors_are_collected_in_one_run() {
    let out = multi(
        r#"[{"id": "a"}, "b", {"id": "a", "token": "t"}, {"id": "c", "token": "t", "platform_url": "ftp://c"}]"#,
    );
    let err = out.config_error();
    for expect in [
        "MOLECULE_WORKSPACES[0].token is missing",
        "MOLECULE_WORKSPACES[1] must be an object",
        "MOLECULE_WORKSPACES[2].id \"a\" repeats",
        "MOLECULE_WORKSPACES[3].platform_url",
    ] {
        assert!(err.contains(expect), "expected {expect:?} in:\n{err}");
    }
}

#[test]
fn multi_workspace_needs_platform_url_unless_each_entry_has_one() {
    let mut run = Run::sandboxed();
    run.set("MOLECULE_WORKSPACES", r#"[{"id": "a", "token": "t"}]"#);
    let out = run.run();
    out.config_error();
    assert_eq!(out.last_line(), "Currently missing: PLATFORM_URL");

    run.set(
        "MOLECULE_WORKSPACES",
        r#"[{"id": "a", "token": "t", "platform_url": "http://127.0.0.1:9"}]"#,
    );
    run.run().accepted();
}

// ---- state directory, gateway-only mode ----

#[cfg(unix)]
#[test]
fn default_state_directory_is_private_under_home() {
    use std::os::unix::fs::PermissionsExt;
    let mut run = Run::complete();
    run.unset("CONFIGS_DIR");
    if Path::new("/configs").is_dir() {
        return; // this machine has the container directory; it would win
    }
    run.run().accepted();
    let dir = run.home.join(".molecule-workspace");
    let mode = fs::metadata(&dir)
        .expect("state dir created")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn configs_dir_that_is_a_file_is_refused() {
    let mut run = Run::complete();
    let file = run.file("not-a-dir", "x");
    run.set("CONFIGS_DIR", &file);
    let out = run.run();
    let err = out.config_error();
    assert!(err.contains("CONFIGS_DIR"), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn gateway_only_mode_needs_no_platform_variables() {
    let mut run = Run::sandboxed();
    let servers = run.file("servers.json", r#"{"mcpServers": {}}"#);
    run.arg("--servers").arg(&servers);
    run.run().accepted();

    let mut run = Run::sandboxed();
    let servers = run.file("servers.json", r#"{"mcpServers": {}}"#);
    run.set("MOLECULE_MCP_SERVERS", &servers);
    run.run().accepted();

    // A platform variable asks for the platform, and then the set must be whole.
    run.set("WORKSPACE_ID", ID);
    let out = run.run();
    out.config_error();
    assert_eq!(
        out.last_line(),
        "Currently missing: PLATFORM_URL, MOLECULE_WORKSPACE_TOKEN"
    );
}

// ---- the command line ----

#[test]
fn help_goes_to_stdout_with_exit_zero() {
    for args in [&["--help"][..], &["doctor", "--help"]] {
        let mut run = Run::new();
        for arg in args {
            run.arg(arg);
        }
        let out = run.run();
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("Usage: molecule-mcp"), "{}", out.stdout);
        assert_eq!(out.stderr, "");
    }
    let mut run = Run::new();
    let out = run.arg("--help").run();
    for word in [
        "--servers",
        "doctor",
        "WORKSPACE_ID",
        "MOLECULE_WORKSPACE_TOKEN_FILE",
        "MOLECULE_WORKSPACES",
        "Tokens tab",
        "MOLECULE_MAILBOX_DIR",
        "MOLECULE_MAILBOX_KERNEL",
        "MOLECULE_IDLE_GOAL",
        "MOLECULE_MCP_STARTUP_WAIT_SECS",
        "MOLECULE_MCP_KEEPALIVE_SECS",
    ] {
        assert!(
            out.stdout.contains(word),
            "help lacks {word}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn version_goes_to_stdout_with_exit_zero() {
    let mut run = Run::new();
    let out = run.arg("--version").run();
    assert_eq!(out.code, Some(0));
    assert_eq!(
        out.stdout,
        format!(
            "molecule-mcp {} (commit {})\n",
            env!("CARGO_PKG_VERSION"),
            head_commit()
        )
    );
    assert_eq!(out.stderr, "");
}

/// The commit the binary must name: asked of git here, independently of the
/// build script; "unknown" outside a git checkout.
fn head_commit() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => "unknown".to_string(),
    }
}

#[test]
fn unknown_arguments_exit_two_with_a_clear_error() {
    for args in [
        &["--bogus"][..],
        &["frobnicate"],
        &["--servers"],
        &["doctor", "--bogus"],
    ] {
        let mut run = Run::complete();
        for arg in args {
            run.arg(arg);
        }
        let out = run.run();
        let err = out.config_error();
        assert!(
            err.contains(args[args.len() - 1]) || err.contains("--servers"),
            "{args:?}: {err}"
        );
        assert!(err.contains("--help"), "{err}");
    }
}

#[cfg(unix)]
#[test]
fn non_utf8_argument_exits_two() {
    let mut run = Run::complete();
    let out = run.arg(not_utf8()).run();
    let err = out.config_error();
    assert!(err.contains("not valid UTF-8"), "{err}");
}

#[test]
fn doctor_runs_with_a_valid_configuration_and_refuses_an_invalid_one() {
    let mut run = Run::complete();
    run.arg("doctor");
    let out = run.run();
    out.no_panic();
    assert_ne!(out.code, Some(2), "{}", out.stderr);

    let mut run = Run::new();
    run.arg("doctor");
    let out = run.run();
    out.config_error();
    assert!(out.last_line().starts_with("Currently missing: "));
}

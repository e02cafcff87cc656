//! `load` as a whole: which mode, what is missing, what is a problem.

use super::*;
use std::fs;
use std::path::Path;

const ID: &str = "00000000-1111-2222-3333-444444444444";

struct Sandbox {
    dir: PathBuf,
    env: EnvMap,
}

impl Sandbox {
    /// An environment whose state directory is a fresh temp dir.
    fn new(name: &str) -> Self {
        let dir = test_dir(name);
        let mut env = EnvMap::new();
        env.insert("CONFIGS_DIR".into(), dir.join("state").into_os_string());
        Sandbox { dir, env }
    }

    fn set(&mut self, name: &str, value: impl Into<OsString>) -> &mut Self {
        self.env.insert(name.into(), value.into());
        self
    }

    fn complete(&mut self) -> &mut Self {
        self.set("WORKSPACE_ID", ID)
            .set("PLATFORM_URL", "http://127.0.0.1:9/")
            .set("MOLECULE_WORKSPACE_TOKEN", "env-token-value")
    }

    fn load(&self) -> Result<Config, ConfigError> {
        load(&self.env, None)
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn missing(result: Result<Config, ConfigError>) -> Vec<String> {
    match result {
        Ok(_) => panic!("expected a configuration error"),
        Err(err) => {
            assert!(err.problems.is_empty(), "{:?}", err.problems);
            err.missing
        }
    }
}

fn problems(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(_) => panic!("expected a configuration error"),
        Err(err) => err.problems.join("\n"),
    }
}

#[test]
fn nothing_set_lists_all_three_in_order() {
    let sandbox = Sandbox::new("load-nothing");
    assert_eq!(
        missing(sandbox.load()),
        ["WORKSPACE_ID", "PLATFORM_URL", "MOLECULE_WORKSPACE_TOKEN"]
    );
    assert!(
        !sandbox.state().exists(),
        "a failed load must not create the state dir"
    );
}

#[test]
fn complete_single_workspace_config() {
    let mut sandbox = Sandbox::new("load-single");
    sandbox.complete();
    let config = sandbox.load().unwrap();
    let platform = config.platform.as_ref().unwrap();
    assert_eq!(platform.url, "http://127.0.0.1:9");
    assert!(!platform.multi);
    assert_eq!(platform.workspaces.len(), 1);
    let ws = &platform.workspaces[0];
    assert_eq!(ws.id, ID);
    assert_eq!(ws.platform_url, "http://127.0.0.1:9");
    assert_eq!(ws.token.current().unwrap().expose(), "env-token-value");
    assert!(!ws.token.from_file());
    assert_eq!(ws.agent_card.name, "molecule-mcp-00000000");
    assert_eq!(config.configs_dir, sandbox.state());
    assert!(sandbox.state().is_dir());
    assert_eq!(config.heartbeat_interval, Duration::from_secs(20));
    assert_eq!(config.poll_interval, Duration::from_secs(5));
    assert_eq!(config.poll_timeout_secs, 2);
    assert!(!config.verbose && !config.disable_heartbeat && !config.disable_inbox);
    assert_eq!(config.servers_file, None);
    assert!(!format!("{config:?}").contains("env-token-value"));
}

#[test]
fn each_single_missing_variable_is_named_alone() {
    for absent in ["WORKSPACE_ID", "PLATFORM_URL", "MOLECULE_WORKSPACE_TOKEN"] {
        let mut sandbox = Sandbox::new("load-one-missing");
        sandbox.complete().set(absent, "   ");
        assert_eq!(missing(sandbox.load()), [absent]);
    }
}

#[test]
fn token_file_is_used_when_no_inline_token() {
    let mut sandbox = Sandbox::new("load-token-file");
    let file = sandbox.dir.join("tok");
    fs::write(&file, "file-token-value\n").unwrap();
    sandbox
        .complete()
        .set("MOLECULE_WORKSPACE_TOKEN", "")
        .set("MOLECULE_WORKSPACE_TOKEN_FILE", file.as_os_str());
    let config = sandbox.load().unwrap();
    let token = &config.platform.unwrap().workspaces[0].token;
    assert_eq!(token.path(), Some(file.as_path()));
    assert_eq!(token.current().unwrap().expose(), "file-token-value");
}

#[test]
fn inline_token_wins_over_a_broken_token_file() {
    let mut sandbox = Sandbox::new("load-token-order");
    sandbox
        .complete()
        .set("MOLECULE_WORKSPACE_TOKEN_FILE", "/nonexistent/token");
    let config = sandbox.load().unwrap();
    assert!(!config.platform.unwrap().workspaces[0].token.from_file());
}

#[test]
fn broken_token_file_does_not_fall_through_to_auth_token() {
    let mut sandbox = Sandbox::new("load-no-fallthrough");
    fs::create_dir_all(sandbox.state()).unwrap();
    fs::write(sandbox.state().join(AUTH_TOKEN_FILE), "good-token").unwrap();
    let absent = sandbox.dir.join("absent-token");
    sandbox
        .complete()
        .set("MOLECULE_WORKSPACE_TOKEN", "")
        .set("MOLECULE_WORKSPACE_TOKEN_FILE", absent.as_os_str());
    let text = problems(sandbox.load());
    assert!(text.contains("MOLECULE_WORKSPACE_TOKEN_FILE"), "{text}");
    assert!(text.contains(&absent.display().to_string()), "{text}");
    assert!(text.contains("does not exist"), "{text}");
}

#[test]
fn auth_token_in_configs_dir_is_the_last_resort() {
    let mut sandbox = Sandbox::new("load-auth-token");
    fs::create_dir_all(sandbox.state()).unwrap();
    let file = sandbox.state().join(AUTH_TOKEN_FILE);
    fs::write(&file, "dir-token-value").unwrap();
    sandbox.complete().set("MOLECULE_WORKSPACE_TOKEN", "");
    let config = sandbox.load().unwrap();
    let token = &config.platform.unwrap().workspaces[0].token;
    assert_eq!(token.path(), Some(file.as_path()));

    fs::write(&file, "  \n").unwrap();
    let text = problems(sandbox.load());
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("is empty"), "{text}");
}

#[test]
fn bad_values_are_problems_naming_the_variable() {
    let cases: [(&str, &str); 6] = [
        ("PLATFORM_URL", "ftp://acme.example"),
        ("WORKSPACE_ID", "a/b"),
        ("MOLECULE_WORKSPACE_TOKEN", "two words"),
        ("MOLECULE_MCP_HEARTBEAT_SECS", "soon"),
        ("MOLECULE_MCP_POLL_SECS", "-1"),
        ("MOLECULE_MCP_POLL_TIMEOUT_SECS", "2.5"),
    ];
    for (name, value) in cases {
        let mut sandbox = Sandbox::new("load-bad-value");
        sandbox.complete().set(name, value);
        let text = problems(sandbox.load());
        assert!(text.contains(name), "{name}: {text}");
        if name == "MOLECULE_WORKSPACE_TOKEN" {
            assert!(!text.contains("two words"), "token leaked: {text}");
        }
    }
}

#[test]
fn problems_are_all_collected() {
    let mut sandbox = Sandbox::new("load-many");
    sandbox
        .set("PLATFORM_URL", "acme.example")
        .set("WORKSPACE_ID", "bad id")
        .set("MOLECULE_MCP_HEARTBEAT_SECS", "x");
    let err = sandbox.load().unwrap_err();
    assert_eq!(err.problems.len(), 3, "{:?}", err.problems);
    assert_eq!(err.missing, ["MOLECULE_WORKSPACE_TOKEN"]);
}

#[cfg(unix)]
#[test]
fn non_utf8_values_are_problems() {
    use std::os::unix::ffi::OsStringExt;
    for name in [
        "PLATFORM_URL",
        "WORKSPACE_ID",
        "MOLECULE_WORKSPACE_TOKEN",
        "MOLECULE_AGENT_NAME",
    ] {
        let mut sandbox = Sandbox::new("load-non-utf8");
        sandbox
            .complete()
            .set(name, OsString::from_vec(vec![b'x', 0xff, 0xfe]));
        let text = problems(sandbox.load());
        assert!(
            text.contains(&format!("{name} is not valid UTF-8")),
            "{text}"
        );
    }
}

#[test]
fn numbers_and_switches_are_read() {
    let mut sandbox = Sandbox::new("load-numbers");
    sandbox
        .complete()
        .set("MOLECULE_MCP_HEARTBEAT_SECS", "0.25")
        .set("MOLECULE_MCP_POLL_SECS", "1")
        .set("MOLECULE_MCP_POLL_TIMEOUT_SECS", "600")
        .set("MOLECULE_MCP_VERBOSE", "1")
        .set("MOLECULE_MCP_DISABLE_HEARTBEAT", "yes")
        .set("MOLECULE_MCP_DISABLE_INBOX", "0");
    let config = sandbox.load().unwrap();
    assert_eq!(config.heartbeat_interval, Duration::from_millis(250));
    assert_eq!(config.poll_interval, Duration::from_secs(1));
    assert_eq!(config.poll_timeout_secs, 60);
    assert!(config.verbose && config.disable_heartbeat && config.disable_inbox);
    assert!(verbose(&sandbox.env));
}

#[test]
fn servers_flag_wins_over_variable() {
    let mut sandbox = Sandbox::new("load-servers");
    sandbox
        .complete()
        .set("MOLECULE_MCP_SERVERS", " /from/env.json ");
    assert_eq!(
        sandbox.load().unwrap().servers_file,
        Some(PathBuf::from("/from/env.json"))
    );
    let config = load(&sandbox.env, Some(PathBuf::from("/from/flag.json"))).unwrap();
    assert_eq!(config.servers_file, Some(PathBuf::from("/from/flag.json")));
}

#[test]
fn gateway_only_without_platform_variables() {
    let mut sandbox = Sandbox::new("load-gateway-only");
    sandbox.set("MOLECULE_MCP_SERVERS", "/etc/servers.json");
    let config = sandbox.load().unwrap();
    assert!(config.platform.is_none());

    sandbox.set("MOLECULE_WORKSPACE_TOKEN", "lonely-token");
    assert_eq!(missing(sandbox.load()), ["WORKSPACE_ID", "PLATFORM_URL"]);
}

#[test]
fn multi_workspace_mode_ignores_single_variables() {
    let mut sandbox = Sandbox::new("load-multi");
    sandbox
        .set("PLATFORM_URL", "https://acme.example/")
        .set("WORKSPACE_ID", "ignored bad id")
        .set("MOLECULE_WORKSPACE_TOKEN_FILE", "/nonexistent")
        .set(
            "MOLECULE_WORKSPACES",
            r#"[{"id":"ws-a","token":"tok-a-123"},{"id":"ws-b","token":"tok-b-456","platform_url":"http://other:8080/"}]"#,
        )
        .set("MOLECULE_AGENT_NAME", "Shared");
    let platform = sandbox.load().unwrap().platform.unwrap();
    assert!(platform.multi);
    assert_eq!(platform.url, "https://acme.example");
    let ids: Vec<_> = platform.workspaces.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["ws-a", "ws-b"]);
    assert_eq!(platform.workspaces[0].platform_url, "https://acme.example");
    assert_eq!(platform.workspaces[1].platform_url, "http://other:8080");
    assert_eq!(
        platform.workspaces[1].token.current().unwrap().expose(),
        "tok-b-456"
    );
    assert_eq!(platform.workspaces[1].agent_card.name, "Shared");
}

#[test]
fn multi_workspace_needs_platform_url_unless_every_entry_has_one() {
    let mut sandbox = Sandbox::new("load-multi-url");
    sandbox.set(
        "MOLECULE_WORKSPACES",
        r#"[{"id":"ws-a","token":"t1","platform_url":"http://a:1"},{"id":"ws-b","token":"t2"}]"#,
    );
    assert_eq!(missing(sandbox.load()), ["PLATFORM_URL"]);

    sandbox.set(
        "MOLECULE_WORKSPACES",
        r#"[{"id":"ws-a","token":"t1","platform_url":"http://a:1/"},{"id":"ws-b","token":"t2","platform_url":"http://b:2"}]"#,
    );
    let platform = sandbox.load().unwrap().platform.unwrap();
    assert_eq!(platform.url, "http://a:1");
}

#[test]
fn multi_workspace_faults_are_problems() {
    let mut sandbox = Sandbox::new("load-multi-bad");
    sandbox.set("PLATFORM_URL", "https://acme.example").set(
        "MOLECULE_WORKSPACES",
        r#"[{"id":"a"},{"id":"a","token":"t"},3]"#,
    );
    let err = sandbox.load().unwrap_err();
    assert!(err.missing.is_empty());
    // Token missing in [0], [1] repeats [0], [2] is not an object.
    assert_eq!(err.problems.len(), 3, "{:?}", err.problems);
}

#[test]
fn state_dir_that_cannot_be_created_is_reported() {
    let mut sandbox = Sandbox::new("load-state-dir");
    let blocker = sandbox.dir.join("file");
    fs::write(&blocker, "x").unwrap();
    sandbox
        .complete()
        .set("CONFIGS_DIR", blocker.join("below").into_os_string());
    let text = problems(sandbox.load());
    assert!(text.contains("cannot be created"), "{text}");
    assert!(Path::new(&blocker).is_file());
}

#[test]
fn megabyte_values_are_refused_quickly_and_not_echoed() {
    let huge = "x".repeat(1 << 20);
    let started = std::time::Instant::now();
    for name in [
        "PLATFORM_URL",
        "WORKSPACE_ID",
        "MOLECULE_WORKSPACE_TOKEN",
        "MOLECULE_WORKSPACES",
        "MOLECULE_MCP_HEARTBEAT_SECS",
        "MOLECULE_MCP_POLL_SECS",
        "MOLECULE_MCP_POLL_TIMEOUT_SECS",
    ] {
        let mut sandbox = Sandbox::new("load-huge");
        sandbox.complete().set(name, huge.as_str());
        let text = problems(sandbox.load());
        assert!(text.contains(name), "{name}: {text}");
        assert!(text.len() < 4096, "{name}: value echoed");
    }
    let mut sandbox = Sandbox::new("load-huge-url");
    sandbox
        .complete()
        .set("PLATFORM_URL", format!("https://{huge}"));
    assert!(problems(sandbox.load()).contains("longer than"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

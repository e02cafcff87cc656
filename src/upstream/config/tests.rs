use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::config::EnvMap;
use crate::machine::breaker;

fn parse_value(file: Value) -> (Vec<ServerEntry>, Vec<String>) {
    match parse(Path::new("servers.json"), file.to_string().as_bytes()) {
        Ok(parsed) => parsed,
        Err(e) => panic!("unexpected file error: {e}"),
    }
}

/// The single entry of a file with one server.
fn one(server: Value) -> (Result<ServerSpec, String>, Vec<String>) {
    let (mut entries, warnings) = parse_value(json!({"mcpServers": {"s": server}}));
    assert_eq!(entries.len(), 1);
    let entry = entries.remove(0);
    assert_eq!(entry.name, "s");
    (entry.spec, warnings)
}

fn ok(server: Value) -> ServerSpec {
    match one(server).0 {
        Ok(spec) => spec,
        Err(e) => panic!("unexpected entry error: {e}"),
    }
}

fn err(server: Value) -> String {
    match one(server).0 {
        Ok(spec) => panic!("expected an entry error, got {spec:?}"),
        Err(e) => e,
    }
}

fn file_err(text: &str) -> FileError {
    match parse(Path::new("/etc/s.json"), text.as_bytes()) {
        Ok(_) => panic!("expected a file error for {text:?}"),
        Err(e) => e,
    }
}

use crate::config::test_env as env;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_stdio_server_with_defaults() {
    let spec =
        ok(json!({"command": "npx", "args": ["-y", "pkg"], "env": {"K": "V"}, "cwd": "/data"}));
    assert_eq!(
        spec.transport,
        TransportSpec::Stdio {
            command: "npx".into(),
            args: vec!["-y".into(), "pkg".into()],
            env: map(&[("K", "V")]),
            cwd: Some(PathBuf::from("/data")),
        }
    );
    assert!(spec.enabled);
    assert_eq!(spec.timeout, Duration::from_secs(300));
    assert_eq!(spec.connect_timeout, Duration::from_secs(30));
    assert_eq!(spec.tools, ToolFilter::default());
    assert_eq!(spec.breaker, breaker::Config::default());
}

#[test]
fn an_http_server() {
    let spec = ok(
        json!({"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${T}"}}),
    );
    assert_eq!(
        spec.transport,
        TransportSpec::Http {
            url: "https://mcp.example.com/mcp".into(),
            headers: map(&[("Authorization", "Bearer ${T}")]),
        }
    );
}

#[test]
fn our_optional_keys_are_read() {
    let spec = ok(json!({
        "command": "srv",
        "enabled": false,
        "timeout": 12.5,
        "connectTimeout": 2,
        "tools": {"include": ["a", "b"], "exclude": ["b"]},
        "breaker": {"threshold": 5, "cooldownSecs": 0.25, "maxCooldownSecs": 4,
                    "parkAfter": 7, "parkProbeSecs": 30}
    }));
    assert!(!spec.enabled);
    assert_eq!(spec.timeout, Duration::from_millis(12_500));
    assert_eq!(spec.connect_timeout, Duration::from_secs(2));
    assert_eq!(spec.tools.include, Some(vec!["a".into(), "b".into()]));
    assert_eq!(
        spec.breaker,
        breaker::Config {
            threshold: 5,
            cooldown: Duration::from_millis(250),
            max_cooldown: Duration::from_secs(4),
            park_after: 7,
            park_probe: Duration::from_secs(30),
            ..breaker::Config::default()
        }
    );
}

#[test]
fn disabled_true_means_not_enabled() {
    assert!(!ok(json!({"command": "x", "disabled": true})).enabled);
    assert!(ok(json!({"command": "x", "disabled": false})).enabled);
}

#[test]
fn null_reads_as_absent() {
    let spec = ok(json!({"command": "x", "cwd": null, "timeout": null, "url": null}));
    assert_eq!(spec.timeout, DEFAULT_TIMEOUT);
    assert!(matches!(
        spec.transport,
        TransportSpec::Stdio { cwd: None, .. }
    ));
}

#[test]
fn the_include_list_wins_over_exclude() {
    let include = ToolFilter {
        include: Some(vec!["a".into()]),
        exclude: vec!["a".into(), "b".into()],
    };
    assert!(include.allows("a"));
    assert!(!include.allows("b"));
    assert!(!include.allows("c"));
    let exclude = ToolFilter {
        include: None,
        exclude: vec!["b".into()],
    };
    assert!(exclude.allows("a"));
    assert!(!exclude.allows("b"));
    assert!(ToolFilter::default().allows("anything"));
    let nothing = ToolFilter {
        include: Some(vec![]),
        exclude: vec![],
    };
    assert!(!nothing.allows("a"));
    // Exact names: no prefix or case folding.
    assert!(!include.allows("A"));
    assert!(!include.allows("ab"));
}

#[test]
fn transport_hints_are_accepted() {
    for hint in [
        "http",
        "streamable-http",
        "Streamable_HTTP",
        "streamableHttp",
    ] {
        let spec = ok(json!({"type": hint, "url": "http://127.0.0.1:1/mcp"}));
        assert!(
            matches!(spec.transport, TransportSpec::Http { .. }),
            "{hint}"
        );
    }
    let spec = ok(json!({"transport": "stdio", "command": "x"}));
    assert!(matches!(spec.transport, TransportSpec::Stdio { .. }));
}

#[test]
fn legacy_sse_is_refused_for_that_server() {
    for key in ["type", "transport"] {
        let e = err(json!({key: "sse", "url": "https://x/sse"}));
        assert!(e.starts_with("legacy SSE transport not supported"), "{e}");
    }
}

#[test]
fn hints_that_contradict_the_entry_are_errors() {
    assert!(err(json!({"type": "stdio", "url": "http://h/mcp"})).contains("no command"));
    assert!(err(json!({"type": "http", "command": "x"})).contains("no url"));
    assert!(err(json!({"type": "websocket", "command": "x"})).contains("type must be"));
    assert!(
        err(json!({"type": "http", "transport": "stdio", "command": "x"})).contains("disagree")
    );
}

#[test]
fn command_and_url_exactly_one() {
    assert!(err(json!({"command": "x", "url": "http://h/"})).contains("both command and url"));
    assert!(err(json!({"args": ["a"]})).contains("needs a command"));
    assert!(err(json!({})).contains("needs a command"));
    assert!(err(json!({"command": "  "})).contains("command is empty"));
}

#[test]
fn urls_must_be_http_with_a_host() {
    assert!(err(json!({"url": "ftp://h/x"})).contains("\"ftp\" is not supported"));
    assert!(err(json!({"url": "localhost:8080/mcp"})).contains("must start with http"));
    assert!(err(json!({"url": "http:///mcp"})).contains("no host"));
    assert!(err(json!({"url": "http://a b/"})).contains("space"));
    ok(json!({"url": "HTTPS://user@h:8443/mcp?x=1"}));
    // Built from variables: checked once expanded.
    ok(json!({"url": "${BASE}/mcp"}));
}

#[test]
fn wrong_types_are_errors_naming_the_key() {
    let cases = [
        (json!({"command": 3}), "command must be a string"),
        (
            json!({"command": "x", "args": "a b"}),
            "args must be an array",
        ),
        (
            json!({"command": "x", "args": ["a", 2]}),
            "args[1] must be a string",
        ),
        (
            json!({"command": "x", "env": {"K": 1}}),
            "env.K must be a string",
        ),
        (
            json!({"command": "x", "env": ["K"]}),
            "env must be an object",
        ),
        (
            json!({"command": "x", "env": {"A=B": "v"}}),
            "not a valid environment variable name",
        ),
        (json!({"command": "x", "cwd": 1}), "cwd must be a string"),
        (
            json!({"command": "x", "enabled": "yes"}),
            "enabled must be true or false",
        ),
        (
            json!({"command": "x", "timeout": "10"}),
            "timeout must be a number",
        ),
        (
            json!({"command": "x", "timeout": -1}),
            "timeout must be more than 0",
        ),
        (
            json!({"command": "x", "timeout": 0}),
            "timeout must be more than 0",
        ),
        (
            json!({"command": "x", "connectTimeout": 1e300}),
            "connectTimeout must be at most",
        ),
        (
            json!({"command": "x", "tools": ["a"]}),
            "tools must be an object",
        ),
        (
            json!({"command": "x", "tools": {"include": "a"}}),
            "tools.include must be an array",
        ),
        (
            json!({"command": "x", "breaker": {"threshold": 0}}),
            "breaker.threshold must be at least 1",
        ),
        (
            json!({"command": "x", "breaker": {"threshold": -2}}),
            "breaker.threshold must be at least 1",
        ),
        (
            json!({"command": "x", "breaker": {"parkAfter": 1.5}}),
            "breaker.parkAfter must be a whole number",
        ),
        (
            json!({"command": "x", "breaker": {"threshold": 1e12}}),
            "breaker.threshold is too large",
        ),
        (
            json!({"command": "x", "breaker": {"cooldownSecs": -0.5}}),
            "breaker.cooldownSecs must be more than 0",
        ),
        (
            json!({"command": "x", "breaker": {"cooldownSecs": 20}}),
            "maxCooldownSecs (15 s) is below",
        ),
        (
            json!({"url": "http://h/", "headers": {"Bad Name": "v"}}),
            "not a valid header name",
        ),
        (
            json!({"url": "http://h/", "headers": {"X": "a\r\nInjected: 1"}}),
            "headers.X holds a line break",
        ),
        (json!({"command": "x\u{0}y"}), "NUL"),
        (json!("npx server"), "must be a JSON object"),
    ];
    for (entry, expected) in cases {
        let e = err(entry.clone());
        assert!(
            e.contains(expected),
            "{entry} → {e:?}, expected {expected:?}"
        );
    }
}

#[test]
fn every_problem_of_an_entry_is_reported_at_once() {
    let e = err(json!({"command": "x", "timeout": "1", "breaker": {"threshold": 0}}));
    assert!(
        e.contains("timeout") && e.contains("breaker.threshold"),
        "{e}"
    );
}

#[test]
fn whole_floats_count_as_whole_numbers() {
    assert_eq!(
        ok(json!({"command": "x", "breaker": {"threshold": 4.0}}))
            .breaker
            .threshold,
        4
    );
}

#[test]
fn problems_never_quote_values() {
    let secret = "sk-live-1234567890abcdef";
    for entry in [
        json!({"command": "x", "timeout": secret}),
        json!({"url": secret}),
        json!({"url": format!("gopher://{secret}")}),
        json!({"url": "http://h/", "headers": {"Authorization": [secret]}}),
        json!({"url": "http://h/", "headers": {"Authorization": format!("Bearer {secret}\n")}}),
        json!({"command": "x", "env": {"TOKEN": {"v": secret}}}),
    ] {
        let e = err(entry);
        assert!(!e.contains(secret) && !e.contains("1234567890"), "{e}");
    }
}

#[test]
fn unknown_keys_are_warned_about_and_ignored() {
    let (spec, warnings) = one(json!({
        "command": "x", "autoApprove": [], "tools": {"only": ["a"]}, "breaker": {"jitter": 0.5}
    }));
    assert!(spec.is_ok());
    let all = warnings.join("\n");
    assert!(
        all.contains("server s: unknown key autoApprove ignored"),
        "{all}"
    );
    assert!(all.contains("unknown key tools.only ignored"), "{all}");
    assert!(all.contains("unknown key breaker.jitter ignored"), "{all}");
    assert_eq!(warnings.len(), 3, "{all}");
}

#[test]
fn settings_of_the_other_transport_are_warned_about() {
    let (spec, warnings) = one(json!({"url": "http://h/", "env": {"A": "b"}, "args": []}));
    assert!(spec.is_ok());
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().all(|w| w.contains("only to stdio")));
    let (spec, warnings) = one(json!({"command": "x", "headers": {"A": "b"}}));
    assert!(spec.is_ok());
    assert!(warnings[0].contains("only to HTTP"), "{warnings:?}");
}

#[test]
fn headers_we_set_ourselves_are_dropped() {
    let (spec, warnings) = one(json!({"url": "http://h/", "headers": {
        "Accept": "text/html", "mcp-session-id": "abc", "X-Team": "t"
    }}));
    let Ok(ServerSpec {
        transport: TransportSpec::Http { headers, .. },
        ..
    }) = spec
    else {
        panic!("expected an HTTP server");
    };
    assert_eq!(headers, map(&[("X-Team", "t")]));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}

#[test]
fn include_with_exclude_and_empty_include_are_warned_about() {
    let (_, warnings) = one(json!({"command": "x", "tools": {"include": [], "exclude": ["a"]}}));
    let all = warnings.join("\n");
    assert!(all.contains("exclude is ignored"), "{all}");
    assert!(all.contains("include is empty"), "{all}");
}

#[test]
fn names_outside_the_charset_are_errors_with_unique_one_line_names() {
    let long = "n".repeat(65);
    let (entries, _) = parse_value(json!({"mcpServers": {
        "": {"command": "x"},
        "my server": {"command": "x"},
        "my\nserver": {"command": "x"},
        "ok-name_1.2": {"command": "x"},
        long.clone(): {"command": "x"},
    }}));
    let by_name = |pred: &dyn Fn(&str) -> bool| {
        entries
            .iter()
            .find(|e| pred(&e.name))
            .unwrap_or_else(|| panic!("no entry matched in {entries:?}"))
    };
    assert!(by_name(&|n| n == "ok-name_1.2").spec.is_ok());
    let empty = by_name(&|n| n.ends_with(" \"\""));
    assert!(empty
        .spec
        .as_ref()
        .is_err_and(|e| e.contains("name is empty")));
    let spaced = by_name(&|n| n.ends_with("\"my server\""));
    assert!(spaced
        .spec
        .as_ref()
        .is_err_and(|e| e.contains("only letters")));
    let newline = by_name(&|n| n.contains("my\\nserver"));
    assert!(newline.spec.is_err());
    let too_long = by_name(&|n| n.contains("nnnn"));
    assert!(too_long
        .spec
        .as_ref()
        .is_err_and(|e| e.contains("longer than 64")));
    assert!(too_long.name.len() < 60, "{}", too_long.name);
    assert!(!entries.iter().any(|e| e.name.contains('\n')));
    let mut names: Vec<_> = entries.iter().map(|e| e.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5);
    // 64 characters are fine.
    let (entries, _) = parse_value(json!({"mcpServers": {"n".repeat(64): {"command": "x"}}}));
    assert!(entries[0].spec.is_ok());
}

#[test]
fn one_bad_server_leaves_the_others_alone() {
    let (entries, _) = parse_value(json!({"mcpServers": {
        "a": {"command": "x"}, "b": {"url": 5}, "c": {"url": "http://h/mcp"}
    }}));
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(entries[0].spec.is_ok());
    assert!(entries[1].spec.is_err());
    assert!(entries[2].spec.is_ok());
}

#[test]
fn syntax_errors_give_path_line_and_column() {
    let e = file_err("{\"mcpServers\": {\n  \"a\": {\"command\": \"x\",}\n}}");
    assert_eq!(e.position(), Some((2, 24)));
    let text = e.to_string();
    assert!(text.starts_with("/etc/s.json:2:24: "), "{text}");
    assert!(!text.contains("at line"), "{text}");
    let e = file_err("{\"mcpServers\": {");
    assert!(e.to_string().starts_with("/etc/s.json:1:"), "{e}");
    assert!(e.what().contains("EOF"), "{e}");
    let e = file_err("");
    assert!(e.to_string().starts_with("/etc/s.json:"), "{e}");
}

#[test]
fn the_top_level_shape_is_checked() {
    let e = file_err("[1, 2]");
    assert!(
        e.to_string()
            .starts_with("/etc/s.json: the top level must be a JSON object"),
        "{e}"
    );
    let e = file_err("{\"other\": 1}");
    assert!(e.to_string().contains("no \"mcpServers\" object"), "{e}");
    let e = file_err("{\"servers\": {}}");
    assert!(e.to_string().contains("rename it to \"mcpServers\""), "{e}");
    let e = file_err("{\"mcpServers\": [\"a\"]}");
    assert!(
        e.to_string().contains("\"mcpServers\" must be an object"),
        "{e}"
    );
    assert_eq!(e.position(), None);
}

#[test]
fn other_top_level_keys_and_an_empty_list_are_fine() {
    let (entries, warnings) = parse_value(json!({"mcpServers": {}, "globalShortcut": "x"}));
    assert!(entries.is_empty());
    assert!(warnings.is_empty());
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let text = "\u{feff}{\"mcpServers\": {\"a\": {\"command\": \"x\"}}}";
    assert!(parse(Path::new("f"), text.as_bytes()).is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = file_err(&deep);
    assert!(e.what().contains("recursion limit"), "{e}");
    let deep_entry = format!(
        "{{\"mcpServers\": {{\"a\": {{\"command\": \"x\", \"extra\": {}{}}}}}}}",
        "{\"k\":".repeat(10_000),
        "1".to_string() + &"}".repeat(10_000)
    );
    assert!(file_err(&deep_entry).what().contains("recursion limit"));
}

#[test]
fn invalid_utf8_is_a_file_error() {
    let bytes = b"{\"mcpServers\": {\"a\": {\"command\": \"\xff\"}}}";
    let e = match parse(Path::new("f.json"), bytes) {
        Ok(_) => panic!("accepted invalid UTF-8"),
        Err(e) => e,
    };
    assert!(e.position().is_some(), "{e}");
}

#[test]
fn expand_replaces_variables() {
    let env = env(&[("A", "1"), ("B", "two"), ("EMPTY", "")]);
    assert_eq!(expand("x${A}y${B}", &env).as_deref(), Ok("x1ytwo"));
    assert_eq!(expand("${env:B}", &env).as_deref(), Ok("two"));
    assert_eq!(expand("${EMPTY}", &env).as_deref(), Ok(""));
    assert_eq!(expand("no refs", &env).as_deref(), Ok("no refs"));
    assert_eq!(expand("", &env).as_deref(), Ok(""));
}

#[test]
fn expand_fallbacks() {
    let env = env(&[("A", "1"), ("EMPTY", "")]);
    assert_eq!(expand("${A:-z}", &env).as_deref(), Ok("1"));
    assert_eq!(expand("${NOPE:-z}", &env).as_deref(), Ok("z"));
    assert_eq!(expand("${EMPTY:-z}", &env).as_deref(), Ok("z"));
    assert_eq!(expand("${NOPE:-}", &env).as_deref(), Ok(""));
    assert_eq!(expand("${env:NOPE:-a b}", &env).as_deref(), Ok("a b"));
}

#[test]
fn expand_escapes_and_literal_dollars() {
    let env = env(&[("A", "1")]);
    assert_eq!(expand("$${A}", &env).as_deref(), Ok("${A}"));
    assert_eq!(expand("$$${A}", &env).as_deref(), Ok("$${A}"));
    assert_eq!(expand("cost $5 $A $", &env).as_deref(), Ok("cost $5 $A $"));
    assert_eq!(expand("日本${A}語", &env).as_deref(), Ok("日本1語"));
}

#[test]
fn values_are_not_expanded_again() {
    let env = env(&[("A", "${B}"), ("B", "secret-b")]);
    assert_eq!(expand("${A}", &env).as_deref(), Ok("${B}"));
}

#[test]
fn expand_errors_name_the_variable_never_a_value() {
    let env = env(&[("SET", "value-of-set")]);
    assert_eq!(
        expand("Bearer ${SEARCH_TOKEN}", &env),
        Err("variable SEARCH_TOKEN is not set".into())
    );
    let e = expand("${SET} ${MISSING}", &env).err().unwrap_or_default();
    assert_eq!(e, "variable MISSING is not set");
    assert!(expand("${SET", &env).is_err_and(|e| e.contains("closing")));
    assert!(expand("${}", &env).is_err_and(|e| e.contains("must name a variable")));
    assert!(expand("${1A}", &env).is_err_and(|e| e.contains("must name a variable")));
    assert!(expand("${A-B}", &env).is_err_and(|e| e.contains("must name a variable")));
}

#[cfg(unix)]
#[test]
fn non_utf8_values_are_errors() {
    use std::os::unix::ffi::OsStringExt;
    let mut env = EnvMap::new();
    env.insert("RAW".into(), OsString::from_vec(vec![0xff, b'x']));
    assert_eq!(
        expand("${RAW}", &env),
        Err("variable RAW is not valid UTF-8".into())
    );
    assert!(expand("${RAW:-fallback}", &env).is_err());
}

#[test]
fn expanded_stdio_resolves_every_field() {
    let spec = TransportSpec::Stdio {
        command: "${HOME}/bin/srv".into(),
        args: vec!["--root".into(), "${DATA}".into(), "$${LIT}".into()],
        env: map(&[("API_TOKEN", "${TOK}"), ("PLAIN", "x")]),
        cwd: Some(PathBuf::from("${DATA}/work")),
    };
    let env = env(&[("HOME", "/h"), ("DATA", "/d"), ("TOK", "t-0123456789")]);
    assert_eq!(
        spec.expanded(&env),
        Ok(TransportSpec::Stdio {
            command: "/h/bin/srv".into(),
            args: vec!["--root".into(), "/d".into(), "${LIT}".into()],
            env: map(&[("API_TOKEN", "t-0123456789"), ("PLAIN", "x")]),
            cwd: Some(PathBuf::from("/d/work")),
        })
    );
    // The original is left as it was, ready for the next reconnect.
    assert!(matches!(&spec, TransportSpec::Stdio { command, .. } if command == "${HOME}/bin/srv"));
}

#[test]
fn expanded_errors_say_where() {
    let env = env(&[]);
    let stdio = |args: Vec<String>, e: BTreeMap<String, String>| TransportSpec::Stdio {
        command: "x".into(),
        args,
        env: e,
        cwd: None,
    };
    assert_eq!(
        stdio(vec!["a".into(), "${NOPE}".into()], BTreeMap::new()).expanded(&env),
        Err("args[1]: variable NOPE is not set".into())
    );
    assert_eq!(
        stdio(vec![], map(&[("K", "${NOPE}")])).expanded(&env),
        Err("env.K: variable NOPE is not set".into())
    );
    let http = TransportSpec::Http {
        url: "http://h/".into(),
        headers: map(&[("Authorization", "Bearer ${SEARCH_TOKEN}")]),
    };
    assert_eq!(
        http.expanded(&env),
        Err("headers.Authorization: variable SEARCH_TOKEN is not set".into())
    );
}

#[test]
fn expanded_http_checks_the_final_url_and_headers() {
    let spec = TransportSpec::Http {
        url: "${BASE}/mcp".into(),
        headers: map(&[("X-Org", "${ORG}")]),
    };
    let good = env(&[("BASE", "https://h:1"), ("ORG", "o")]);
    assert_eq!(
        spec.expanded(&good),
        Ok(TransportSpec::Http {
            url: "https://h:1/mcp".into(),
            headers: map(&[("X-Org", "o")]),
        })
    );
    let bad_url = env(&[("BASE", "file:///etc"), ("ORG", "o")]);
    assert!(spec
        .expanded(&bad_url)
        .is_err_and(|e| e.contains("\"file\"")));
    let injected = env(&[("BASE", "http://h"), ("ORG", "o\r\nX-Evil: 1")]);
    assert!(spec
        .expanded(&injected)
        .is_err_and(|e| e.contains("headers.X-Org holds a line break") && !e.contains("Evil")));
}

#[test]
fn expanded_credentials_are_registered_for_redaction() {
    let token = "tok-expanded-7f3a9c1e5b";
    let literal = "literal-key-42d8e0b6a1";
    let spec = TransportSpec::Http {
        url: "http://h/".into(),
        headers: map(&[("Authorization", "Bearer ${T}"), ("X-Api-Key", literal)]),
    };
    assert!(spec.expanded(&env(&[("T", token)])).is_ok());
    let line = format!("upstream said: {token} and {literal}");
    let shown = crate::redact::redact(&line);
    assert!(
        !shown.contains(token) && !shown.contains(literal),
        "{shown}"
    );
}

#[test]
fn credentials_expanded_into_args_env_and_url_are_registered_and_plain_values_are_not() {
    // Values no pattern would catch: only registration can mask them.
    let (key, password, token) = ("Wq3vP9sL2kX7mZ4r", "Hy6tB1nC8dF5gJ0e", "Ku2oI7yT4rE9wQ1a");
    let home = "/srv/agent-home/data";
    let spec = TransportSpec::Stdio {
        command: "server".into(),
        args: vec!["--key=${API_KEY}".into(), "--data=${DATA_DIR}".into()],
        env: map(&[("DATABASE_URL", "${DB_PASSWORD}")]),
        cwd: None,
    };
    let vars = env(&[
        ("API_KEY", key),
        ("DB_PASSWORD", password),
        ("QUERY_TOKEN", token),
        ("DATA_DIR", home),
    ]);
    assert!(spec.expanded(&vars).is_ok());
    let http = TransportSpec::Http {
        url: "http://h/mcp?k=${QUERY_TOKEN}".into(),
        headers: BTreeMap::new(),
    };
    assert!(http.expanded(&vars).is_ok());
    let shown = crate::redact::redact(&format!("child said {key} {password} {token} in {home}"));
    for value in [key, password, token] {
        assert!(!shown.contains(value), "{value} shown: {shown}");
    }
    assert!(shown.contains(home), "an ordinary path was masked: {shown}");
}

#[test]
fn debug_output_hides_header_and_env_values() {
    let spec = TransportSpec::Http {
        url: "https://user:pw@h/?token=abc".into(),
        headers: map(&[("Authorization", "Bearer sekrit-value")]),
    };
    let shown = format!("{spec:?}");
    assert!(shown.contains("Authorization"), "{shown}");
    assert!(
        !shown.contains("sekrit") && !shown.contains("pw@"),
        "{shown}"
    );
    let spec = TransportSpec::Stdio {
        command: "x".into(),
        args: vec!["--token=abc123".into()],
        env: map(&[("GITHUB_TOKEN", "ghp_sekrit")]),
        cwd: None,
    };
    let shown = format!("{spec:?}");
    assert!(shown.contains("GITHUB_TOKEN"), "{shown}");
    assert!(
        !shown.contains("sekrit") && !shown.contains("abc123"),
        "{shown}"
    );
}

#[test]
fn file_errors_display_the_path() {
    let e = FileError::new(Path::new("/x/y.json"), None, "what");
    assert_eq!(e.to_string(), "/x/y.json: what");
    let e = FileError::new(Path::new("/x/y.json"), Some((3, 7)), "what");
    assert_eq!(e.to_string(), "/x/y.json:3:7: what");
}

#[test]
fn a_prefix_replaces_the_server_name_in_what_the_agent_sees() {
    assert_eq!(ok(json!({"command": "x"})).prefix, None);
    assert_eq!(
        ok(json!({"command": "x", "prefix": ""})).prefix,
        Some("".into())
    );
    assert_eq!(
        ok(json!({"command": "x", "prefix": "gh."})).prefix,
        Some("gh.".into())
    );
    for bad in [json!("a b"), json!("x/y"), json!(3), json!("p".repeat(65))] {
        let e = err(json!({"command": "x", "prefix": bad}));
        assert!(e.contains("prefix"), "{e}");
    }
}

#[test]
fn a_double_underscore_in_a_server_name_is_that_servers_error() {
    let (entries, _) = parse_value(json!({"mcpServers": {
        "a__b": {"command": "x"},
        "a": {"command": "x"},
    }}));
    let bad = entries
        .iter()
        .find(|e| e.name.contains("a__b"))
        .expect("listed");
    assert!(
        bad.spec.as_ref().is_err_and(|e| e.contains("\"__\"")),
        "{bad:?}"
    );
    assert!(entries.iter().any(|e| e.name == "a" && e.spec.is_ok()));
}

//! The servers file read from disk: what an operator writes, what breaks it
//! as a whole (with path, line and column) and what breaks one server only.

mod support;

use std::ffi::OsString;
use std::time::Duration;

use molecule_mcp::config::EnvMap;
use molecule_mcp::upstream::config::{load, FileError, ServerEntry, TransportSpec};
use support::TempDir;

fn write(dir: &TempDir, name: &str, text: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, text) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

fn load_ok(dir: &TempDir, text: &str) -> Vec<ServerEntry> {
    let path = write(dir, "servers.json", text.as_bytes());
    match load(&path) {
        Ok(entries) => entries,
        Err(e) => panic!("unexpected file error: {e}"),
    }
}

fn load_err(dir: &TempDir, text: &[u8]) -> (std::path::PathBuf, FileError) {
    let path = write(dir, "servers.json", text);
    match load(&path) {
        Ok(entries) => panic!("expected a file error, got {entries:?}"),
        Err(e) => (path, e),
    }
}

#[test]
fn the_format_every_host_uses_loads() {
    let dir = TempDir::new("upcfg-hosts");
    let entries = load_ok(
        &dir,
        r#"{
  "mcpServers": {
    "files":  {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/data"],
               "env": {"K": "V"}, "cwd": "/data"},
    "search": {"url": "https://mcp.example.com/mcp",
               "headers": {"Authorization": "Bearer ${SEARCH_TOKEN}"},
               "timeout": 60, "tools": {"exclude": ["delete"]}}
  },
  "globalShortcut": "Ctrl+Space"
}"#,
    );
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].name, "files");
    assert_eq!(entries[1].name, "search");
    let Ok(search) = &entries[1].spec else {
        panic!("search did not load: {:?}", entries[1].spec);
    };
    assert_eq!(search.timeout, Duration::from_secs(60));
    assert!(!search.tools.allows("delete"));
    assert!(search.tools.allows("query"));

    let env: EnvMap = [("SEARCH_TOKEN".to_string(), OsString::from("abc"))]
        .into_iter()
        .collect();
    match search.transport.expanded(&env) {
        Ok(TransportSpec::Http { headers, .. }) => {
            assert_eq!(
                headers.get("Authorization").map(String::as_str),
                Some("Bearer abc")
            )
        }
        other => panic!("unexpected expansion: {other:?}"),
    }
    assert_eq!(
        search.transport.expanded(&EnvMap::new()),
        Err("headers.Authorization: variable SEARCH_TOKEN is not set".into())
    );
}

#[test]
fn a_broken_server_does_not_break_the_file() {
    let dir = TempDir::new("upcfg-broken");
    let entries = load_ok(
        &dir,
        r#"{"mcpServers": {
            "good": {"command": "srv"},
            "legacy": {"type": "sse", "url": "https://h/sse"},
            "typo": {"comand": "srv"}
        }}"#,
    );
    let spec = |name: &str| {
        entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.spec.clone())
            .unwrap_or_else(|| panic!("no entry {name}"))
    };
    assert!(spec("good").is_ok());
    assert!(spec("legacy").is_err_and(|e| e.contains("legacy SSE transport not supported")));
    assert!(spec("typo").is_err_and(|e| e.contains("needs a command")));
}

#[test]
fn a_syntax_error_names_path_line_and_column() {
    let dir = TempDir::new("upcfg-syntax");
    let (path, e) = load_err(
        &dir,
        b"{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"}\n    \"b\": {}\n  }\n}\n",
    );
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}:4:5: ", path.display())),
        "{text}"
    );
    assert_eq!(e.path(), path.as_path());
}

#[test]
fn a_wrong_shape_names_the_path() {
    let dir = TempDir::new("upcfg-shape");
    let (path, e) = load_err(&dir, b"{\"mcpServers\": \"files\"}");
    assert!(
        e.to_string()
            .starts_with(&format!("{}: \"mcpServers\" must be", path.display())),
        "{e}"
    );
    let (_, e) = load_err(&dir, b"null");
    assert!(
        e.to_string().contains("top level must be a JSON object"),
        "{e}"
    );
}

#[test]
fn a_missing_file_or_a_directory_names_the_path() {
    let dir = TempDir::new("upcfg-missing");
    let missing = dir.join("nope.json");
    let e = load(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with(&format!("{}: cannot read", missing.display())),
        "{e:?}"
    );
    let e = load(dir.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with(&format!("{}: cannot read", dir.path().display())),
        "{e:?}"
    );
}

#[test]
fn a_huge_file_is_refused_without_reading_it_all() {
    let dir = TempDir::new("upcfg-huge");
    let mut text = b"{\"mcpServers\": {}, \"pad\": \"".to_vec();
    text.resize(17 * 1024 * 1024, b'a');
    text.extend_from_slice(b"\"}");
    let (_, e) = load_err(&dir, &text);
    assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
}

#[test]
fn a_deeply_nested_file_is_an_error_not_a_crash() {
    let dir = TempDir::new("upcfg-deep");
    let text = format!("{{\"mcpServers\": {{\"a\": {}}}}}", "[".repeat(1_000_000));
    let (_, e) = load_err(&dir, text.as_bytes());
    assert!(e.position().is_some(), "{e}");
    assert!(e.what().contains("recursion limit"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_non_utf8_path_is_named_as_well_as_it_can_be() {
    use std::os::unix::ffi::OsStringExt;
    let dir = TempDir::new("upcfg-bytes");
    let path = dir.join(std::ffi::OsString::from_vec(b"s\xffrv.json".to_vec()));
    if std::fs::write(&path, b"{").is_err() {
        // Some file systems refuse such names; nothing to test then.
        return;
    }
    let e = load(&path).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("rv.json:1:"), "{e:?}");
}

/// The binary refuses to start on a malformed servers file: exit 2, and the
/// message points at the spot.
#[test]
fn the_binary_exits_2_naming_path_line_and_column() {
    let dir = TempDir::new("upcfg-bin");
    let path = write(
        &dir,
        "servers.json",
        b"{\"mcpServers\": {\n  \"a\": {\"command\": \"x\",}\n}}",
    );
    let flag = path.to_string_lossy().into_owned();
    let mut child = support::Child::spawn_args(&["--servers", &flag], dir.path(), &[]);
    let status = child.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "stderr: {}",
        child.stderr()
    );
    let expected = format!("{}:2:24: ", path.display());
    assert!(child.stderr().contains(&expected), "{}", child.stderr());
}

#[test]
fn the_binary_exits_2_when_the_servers_file_is_missing() {
    let dir = TempDir::new("upcfg-bin-missing");
    let path = dir.join("absent.json");
    let value = path.to_string_lossy().into_owned();
    let mut child =
        support::Child::spawn_args(&[], dir.path(), &[("MOLECULE_MCP_SERVERS", &value)]);
    let status = child.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "stderr: {}",
        child.stderr()
    );
    assert!(
        child.stderr().contains(&format!("{value}: cannot read")),
        "{}",
        child.stderr()
    );
}

//! Issue item 17: with stdin closed at start, a token refused at register
//! still gives exit 3 and its message, every time.

use std::time::Duration;

use crate::common::{platform_env, sim, WS};
use crate::support::{Child, TempDir};

#[test]
fn stdin_closed_at_start_and_a_refused_token_always_exit_3() {
    let sim = sim();
    let home = TempDir::new("harden-exit3");
    let mut env = platform_env(&sim, &home);
    env.retain(|(k, _)| k != "MOLECULE_WORKSPACE_TOKEN");
    env.push((
        "MOLECULE_WORKSPACE_TOKEN".into(),
        "tok-wrong-000000000000".into(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for run in 0..20 {
        let mut child = Child::spawn(home.path(), &pairs);
        child.close_stdin();
        let Some(exit) = child.wait_exit(Duration::from_secs(15)) else {
            panic!("run {run}: the process did not end");
        };
        let stderr = child.stderr();
        assert_eq!(exit.code(), Some(3), "run {run}: stderr:\n{stderr}");
        assert!(
            stderr.contains("Tokens tab") && stderr.contains(WS),
            "run {run}: {stderr}"
        );
    }
}

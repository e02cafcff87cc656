//! Issue item 16: the exit-2 text for a bad PLATFORM_URL quotes it without
//! its query and fragment (which may hold keys).

use std::time::Duration;

use crate::support::{Child, TempDir};

#[test]
fn a_bad_platform_url_is_quoted_without_query_or_fragment() {
    let home = TempDir::new("harden-url-text");
    let configs = home.join("configs").to_string_lossy().into_owned();
    for (url, hidden) in [
        (
            "https://acme.example/tenant?sig=Zx81kPq0wLmN&signature_key=v4lue#frag-secret",
            ["sig=", "Zx81kPq0wLmN", "v4lue", "frag-secret"],
        ),
        (
            "ftp://acme.example/?code=Yy77aaBBcc&x=1#part-9",
            ["code=", "Yy77aaBBcc", "x=1", "part-9"],
        ),
    ] {
        let mut child = Child::spawn(
            home.path(),
            &[
                ("PLATFORM_URL", url),
                ("WORKSPACE_ID", "7e1d2c3b-2222-4222-8333-444455556666"),
                ("MOLECULE_WORKSPACE_TOKEN", "tok-url-text-1234567"),
                ("CONFIGS_DIR", &configs),
            ],
        );
        let exit = child.wait_exit(Duration::from_secs(10)).expect("exit");
        assert_eq!(exit.code(), Some(2));
        let stderr = child.stderr();
        assert!(
            stderr.contains("PLATFORM_URL") && stderr.contains("acme.example"),
            "{stderr}"
        );
        for text in hidden {
            assert!(!stderr.contains(text), "{text} quoted: {stderr}");
        }
    }
}

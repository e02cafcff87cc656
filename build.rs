//! Names the git commit a binary was built from, for `--version`, links
//! the binary with `src/layout.ld`, and packs its relocations where the
//! C library can read them packed.
//!
//! Outside a git checkout (a source tarball, a crate) the commit is
//! "unknown". Cargo re-runs this only when HEAD or the branch it points to
//! moves, so an ordinary rebuild does not pay for a `git` call.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    layout();
    pack_relocations();
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MOLECULE_MCP_COMMIT={commit}");
    // --git-path resolves worktrees and the common directory; only existing
    // files are watched (a missing one would make cargo re-run every time).
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}

/// The functions a session runs go first in `.text` (`src/layout.ld`,
/// written by `make layout`): the kernel maps code in 64 KiB windows, so
/// packing them keeps some 1.4 MiB less of the binary resident. GNU ld and
/// LLD both read the script; other platforms link as before.
/// `make layout` profiles a build without it (`MOLECULE_MCP_NO_LAYOUT`):
/// valgrind does not count a second code section as the binary's own.
fn layout() {
    println!("cargo:rerun-if-changed=src/layout.ld");
    println!("cargo:rerun-if-env-changed=MOLECULE_MCP_NO_LAYOUT");
    let wanted = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && std::env::var_os("MOLECULE_MCP_NO_LAYOUT").is_none();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let script = Path::new(&dir).join("src/layout.ld");
    if wanted && script.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=molecule-mcp=-Wl,-T,{}",
            script.display()
        );
    }
}

/// A position-independent binary carries one relocation per pointer in its
/// tables (vtables, string slices): 4 000 of 24 bytes each, 95 KB that the
/// loader reads page by page at every start and that stay resident.
/// `-z pack-relative-relocs` packs them into a 1 KB bitmap (DT_RELR), which
/// glibc reads from 2.36 on; the linker then marks the binary as needing
/// it. So: only for a glibc target built on a glibc of at least 2.36,
/// where the binary is meant to run (the static build is the one to copy
/// elsewhere).
fn pack_relocations() {
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    if gnu_linux && native && glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bin=molecule-mcp=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc version, from `getconf GNU_LIBC_VERSION`
/// ("glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    let minor = minor.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// One line of a git command's output, or None when git is missing, fails,
/// or prints nothing usable.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.trim();
    (out.status.success() && !line.is_empty() && !line.contains(char::is_whitespace))
        .then(|| line.to_string())
}

//! The state directory (`CONFIGS_DIR`): token file, inbound secret, inbox
//! cursor. Chosen without creating anything, so a start that fails on another
//! setting leaves nothing behind; created only once everything else is valid.

use std::fs;
use std::path::{Path, PathBuf};

use super::env;
use super::{ConfigError, EnvMap};

/// The directory a workspace container mounts for its state.
pub const CONTAINER_DIR: &str = "/configs";
/// Under `$HOME` when neither `CONFIGS_DIR` nor a writable `/configs` exists.
pub const HOME_SUBDIR: &str = ".molecule-workspace";

/// `CONFIGS_DIR` if set, else `/configs` if it is a writable directory, else
/// `$HOME/.molecule-workspace`.
pub fn choose(env: &EnvMap, errors: &mut ConfigError) -> Option<PathBuf> {
    choose_with(env, Path::new(CONTAINER_DIR), errors)
}

pub(crate) fn choose_with(
    env: &EnvMap,
    container_dir: &Path,
    errors: &mut ConfigError,
) -> Option<PathBuf> {
    if let Some(dir) = env::path(env, "CONFIGS_DIR") {
        return usable_or_absent(dir, "CONFIGS_DIR", errors);
    }
    if container_dir.is_dir() && writable(container_dir) {
        return Some(container_dir.to_path_buf());
    }
    match env::path(env, "HOME") {
        Some(home) => usable_or_absent(
            home.join(HOME_SUBDIR),
            "the default state directory",
            errors,
        ),
        None => {
            errors.problem(format!(
                "No state directory: CONFIGS_DIR is not set, {CONTAINER_DIR} is not a writable \
                 directory and HOME is not set. Set CONFIGS_DIR to a writable directory."
            ));
            None
        }
    }
}

fn usable_or_absent(dir: PathBuf, what: &str, errors: &mut ConfigError) -> Option<PathBuf> {
    if dir.exists() && !dir.is_dir() {
        errors.problem(format!(
            "{what} {} exists but is not a directory. Set CONFIGS_DIR to a directory for state files.",
            dir.display()
        ));
        return None;
    }
    Some(dir)
}

/// The mailbox directory of the runtime's kernel mode.
pub const MAILBOX_KERNEL_DIR: &str = "/workspace/.molecule";

/// Where the inbox cursor files go instead of the state directory:
/// `MOLECULE_MAILBOX_DIR`, else [`MAILBOX_KERNEL_DIR`] when
/// `MOLECULE_MAILBOX_KERNEL` is 1, true, yes or on (any case).
pub fn mailbox(env: &EnvMap) -> Option<PathBuf> {
    if let Some(dir) = env::path(env, "MOLECULE_MAILBOX_DIR") {
        return Some(dir);
    }
    let kernel = env
        .get("MOLECULE_MAILBOX_KERNEL")
        .map(|v| v.to_string_lossy().trim().to_ascii_lowercase())
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"));
    kernel.then(|| PathBuf::from(MAILBOX_KERNEL_DIR))
}

/// Creates the chosen directory (mode 0700: it holds tokens) if it is not
/// there yet.
pub fn create(dir: &Path) -> Result<(), String> {
    create_for(dir, "Set CONFIGS_DIR to a writable directory.")
}

/// As [`create`]; `advice` ends the error text.
pub fn create_for(dir: &Path, advice: &str) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|err| {
        format!(
            "The state directory {} cannot be created ({err}). {advice}",
            dir.display()
        )
    })
}

/// CONFIGS_DIR is trusted only when nobody else can write it: another user
/// could plant a queue entry (delivered to the agent as the canvas user's
/// message) or swap a state file. Says what is wrong with `dir`, if
/// anything, for a loud warning.
pub fn distrust(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(dir).ok()?;
    // SAFETY: geteuid has no arguments and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mode = meta.mode();
    let mut why = Vec::new();
    if mode & 0o002 != 0 {
        why.push("writable by other users (world-writable)".to_string());
    } else if mode & 0o020 != 0 {
        why.push("writable by other users of its group".to_string());
    }
    if meta.uid() != me {
        why.push(format!(
            "owned by uid {} while molecule-mcp runs as uid {me}",
            meta.uid()
        ));
    }
    if why.is_empty() {
        return None;
    }
    Some(format!(
        "the state directory {} is {}: whoever can write it can plant inbox messages and \
         state files. Make it yours and private (chmod 700), or set CONFIGS_DIR to a \
         directory only you can write.",
        dir.display(),
        why.join(" and ")
    ))
}

fn writable(dir: &Path) -> bool {
    crate::statefile::probe_writable(dir).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_setting_and_kernel_default() {
        let env = |pairs: &[(&str, &str)]| -> EnvMap {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect()
        };
        assert_eq!(mailbox(&env(&[])), None);
        assert_eq!(mailbox(&env(&[("MOLECULE_MAILBOX_KERNEL", "0")])), None);
        assert_eq!(mailbox(&env(&[("MOLECULE_MAILBOX_KERNEL", "off")])), None);
        for on in ["1", "true", "YES", " on "] {
            assert_eq!(
                mailbox(&env(&[("MOLECULE_MAILBOX_KERNEL", on)])),
                Some(PathBuf::from(MAILBOX_KERNEL_DIR)),
                "{on}"
            );
        }
        assert_eq!(
            mailbox(&env(&[
                ("MOLECULE_MAILBOX_KERNEL", "1"),
                ("MOLECULE_MAILBOX_DIR", "/m")
            ])),
            Some(PathBuf::from("/m"))
        );
    }
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &Path)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v.as_os_str())))
            .collect()
    }

    #[test]
    fn configs_dir_variable_wins() {
        let root = crate::config::test_dir("configs-dir-env");
        let wanted = root.join("state");
        let mut errors = ConfigError::default();
        let got = choose_with(
            &env(&[("CONFIGS_DIR", &wanted), ("HOME", &root)]),
            &root,
            &mut errors,
        );
        assert_eq!(got, Some(wanted.clone()));
        assert!(!wanted.exists(), "choosing must not create");
        create(&wanted).unwrap();
        assert!(wanted.is_dir());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn writable_container_dir_comes_next() {
        let root = crate::config::test_dir("configs-dir-container");
        let mut errors = ConfigError::default();
        let got = choose_with(
            &env(&[("HOME", Path::new("/nonexistent"))]),
            &root,
            &mut errors,
        );
        assert_eq!(got, Some(root.clone()));
        assert_eq!(
            fs::read_dir(&root).unwrap().count(),
            0,
            "probe file left behind"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn home_fallback_is_created_private() {
        let home = crate::config::test_dir("configs-dir-home");
        let mut errors = ConfigError::default();
        let absent = home.join("no-container-dir");
        let got = choose_with(&env(&[("HOME", &home)]), &absent, &mut errors).unwrap();
        assert_eq!(got, home.join(HOME_SUBDIR));
        create(&got).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&got).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        assert!(errors.is_empty());
        fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_a_problem() {
        let root = crate::config::test_dir("configs-dir-file");
        let file = root.join("plain-file");
        fs::write(&file, "x").unwrap();
        let mut errors = ConfigError::default();
        assert_eq!(
            choose_with(&env(&[("CONFIGS_DIR", &file)]), &root, &mut errors),
            None
        );
        assert!(errors.problems[0].contains("CONFIGS_DIR"));
        assert!(errors.problems[0].contains("not a directory"));
        assert!(create(&file.join("sub")).is_err());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn no_home_and_no_container_dir_is_a_problem() {
        let mut errors = ConfigError::default();
        assert_eq!(
            choose_with(
                &EnvMap::new(),
                Path::new("/nonexistent-configs"),
                &mut errors
            ),
            None
        );
        assert!(errors.problems[0].contains("Set CONFIGS_DIR"));
    }
}

//! What a benchmark reads of a running process from /proc: CPU time (all
//! threads, nanoseconds), context switches (wake-ups), peak RSS and its
//! anonymous and file-backed parts.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub cpu: Duration,
    pub switches: u64,
}

/// CPU time and context switches summed over every live thread of `pid`.
pub fn sample(pid: u32) -> Sample {
    let mut out = Sample::default();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        if let Ok(text) = fs::read_to_string(dir.join("schedstat")) {
            if let Some(ns) = text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            {
                out.cpu += Duration::from_nanos(ns);
            }
        }
        if let Ok(text) = fs::read_to_string(dir.join("status")) {
            for line in text.lines() {
                if line.starts_with("voluntary_ctxt_switches")
                    || line.starts_with("nonvoluntary_ctxt_switches")
                {
                    out.switches += line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
    }
    out
}

/// A `/proc/<pid>/status` field in KiB (`VmHWM`, `VmRSS`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory split by what backs it, in KiB: anonymous pages (heap,
/// stacks: private to the process) and file-backed ones (the code and
/// read-only data of the binary and its libraries: page cache, shared by
/// every process that maps the same file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resident {
    pub anon: u64,
    pub file: u64,
}

impl Resident {
    pub fn of(pid: u32) -> Resident {
        Resident {
            anon: status_kib(pid, "RssAnon"),
            file: status_kib(pid, "RssFile"),
        }
    }

    /// The larger of each part: /proc keeps only the peak of the total
    /// (`VmHWM`), so a run samples the parts as it goes.
    pub fn max(self, other: Resident) -> Resident {
        Resident {
            anon: self.anon.max(other.anon),
            file: self.file.max(other.file),
        }
    }
}

/// Resident KiB of the C runtime's shared libraries in `pid` (libc, the
/// loader, libgcc_s): what every dynamically linked program maps, whatever
/// its own code. 0 for a static binary.
pub fn c_runtime_kib(pid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return 0;
    };
    let (mut total, mut counted) = (0, false);
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("Rss:") if counted => {
                total += fields
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            Some(first) if !first.ends_with(':') => {
                let path = line.split_whitespace().nth(5).unwrap_or("");
                let name = path.rsplit('/').next().unwrap_or("");
                counted = ["libc.so", "ld-linux", "libgcc_s.so"]
                    .iter()
                    .any(|lib| name.starts_with(lib));
            }
            _ => {}
        }
    }
    total
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The builds a footprint figure is measured for: the release binary
/// (glibc), and the static musl one of `make static` when it was built.
/// Prints why the static build is left out when it is.
pub fn builds(release: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut builds = vec![("glibc", release.to_path_buf())];
    let musl = release
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("x86_64-unknown-linux-musl/release/molecule-mcp"));
    match musl {
        Some(musl) if musl.is_file() => builds.push(("static musl", musl)),
        _ => println!(
            "(the static musl build is not measured: run `make static` first, which needs musl-tools)"
        ),
    }
    builds
}

/// Live threads of `pid`.
pub fn threads(pid: u32) -> u64 {
    status_kib(pid, "Threads")
}

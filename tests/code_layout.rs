//! The binary is linked with `src/layout.ld`: the functions a session runs
//! sit together in `.text.hot`, ahead of the rest of the code, so the
//! kernel's 64 KiB read-around maps little cold code beside them. The
//! script names functions by pattern; if a toolchain or mangling change
//! left it matching nothing, the linker would drop the section without a
//! word and the resident code would triple (what `make bench` measures).
//! This test notices that first.
//!
//! The same file also names the C runtime's start-up objects (`_start`
//! runs in every process), and on a glibc of 2.36 or later the build packs
//! the binary's relocations (`build.rs`): both are checked here too.

mod support;

/// A session runs some 0.7 MB of optimised code (more unoptimised); a few
/// stray matches stay far below this.
const MIN_HOT_BYTES: u64 = 256 * 1024;
const STALE: &str = " (run `make layout`; a RUSTFLAGS variable also replaces the v0 mangling \
                     that .cargo/config.toml asks for, and the script names v0 symbols)";

#[test]
fn the_functions_a_session_runs_come_first_in_the_code() {
    let (bin, bytes, sections) = binary_under_test();
    let find = |wanted: &str| sections.iter().find(|s| s.name == wanted);
    let hot = find(".text.hot").unwrap_or_else(|| {
        panic!(
            "{} has no .text.hot section: src/layout.ld matched no function{STALE}",
            bin.display()
        )
    });
    let text = find(".text").expect("a .text section");
    assert!(
        hot.size >= MIN_HOT_BYTES,
        ".text.hot holds only {} bytes: src/layout.ld no longer names what a session runs{STALE}",
        hot.size
    );
    assert!(
        hot.addr < text.addr,
        ".text.hot at {:#x} is not ahead of .text at {:#x}",
        hot.addr,
        text.addr
    );
    let entry = entry_point(&bytes).expect("an ELF entry point");
    assert!(
        (hot.addr..hot.addr + hot.size).contains(&entry),
        "the entry point {entry:#x} (`_start`) lies outside .text.hot ({:#x}..{:#x}): \
         src/layout.ld no longer names the C runtime's start-up objects",
        hot.addr,
        hot.addr + hot.size
    );
}

/// A dynamically linked build made on glibc 2.36 or later packs its
/// relative relocations (DT_RELR) instead of carrying 24 bytes for each.
#[test]
fn a_glibc_build_packs_its_relocations_where_glibc_reads_them() {
    let (bin, _, sections) = binary_under_test();
    let has = |wanted: &str| sections.iter().any(|s| s.name == wanted);
    if !has(".interp") {
        return; // the static build: no loader reads its relocations
    }
    let Some(version) = glibc_version() else {
        return; // not a glibc system: build.rs does not pack there either
    };
    if version >= (2, 36) {
        assert!(
            has(".relr.dyn"),
            "{} was built on glibc {}.{} without packed relocations (.relr.dyn): \
             build.rs no longer passes -z pack-relative-relocs",
            bin.display(),
            version.0,
            version.1
        );
    }
}

/// The version of the glibc this test runs on, the one build.rs saw (it
/// asks `getconf`; this asks the library itself).
#[cfg(target_env = "gnu")]
fn glibc_version() -> Option<(u32, u32)> {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let (major, minor) = text.to_str().ok()?.split_once('.')?;
    let minor = minor.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(not(target_env = "gnu"))]
fn glibc_version() -> Option<(u32, u32)> {
    None
}

/// The address the kernel starts the program at (`e_entry`).
fn entry_point(elf: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(elf.get(0x18..0x20)?.try_into().ok()?))
}

/// The binary's path, bytes and section headers.
fn binary_under_test() -> (std::path::PathBuf, Vec<u8>, Vec<Section>) {
    let bin = support::bin();
    let bytes = std::fs::read(&bin).expect("the binary under test is readable");
    let sections = sections(&bytes).expect("the binary is a 64-bit little-endian ELF file");
    (bin, bytes, sections)
}

struct Section {
    name: String,
    addr: u64,
    size: u64,
}

/// The section headers of an ELF64 little-endian file, or None if it is
/// not one or a header points outside it.
fn sections(elf: &[u8]) -> Option<Vec<Section>> {
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    let table = usize::try_from(u64_at(0x28)?).ok()?;
    let entry = usize::from(u16_at(0x3a)?);
    let count = usize::from(u16_at(0x3c)?);
    let header = |i: usize| table.checked_add(i.checked_mul(entry)?);
    let names_header = header(usize::from(u16_at(0x3e)?))?;
    let names = usize::try_from(u64_at(names_header + 24)?).ok()?;
    (0..count)
        .map(|i| {
            let at = header(i)?;
            let name_at = names.checked_add(usize::try_from(u32_at(at)?).ok()?)?;
            let name = elf.get(name_at..)?.split(|b| *b == 0).next()?;
            Some(Section {
                name: String::from_utf8_lossy(name).into_owned(),
                addr: u64_at(at + 16)?,
                size: u64_at(at + 32)?,
            })
        })
        .collect()
}

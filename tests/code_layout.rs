//! The binary is linked with `src/layout.ld`: the functions a session runs
//! sit together in `.text.hot`, ahead of the rest of the code, so the
//! kernel's 64 KiB read-around maps little cold code beside them. The
//! script names functions by pattern; if a toolchain or mangling change
//! left it matching nothing, the linker would drop the section without a
//! word and the resident code would triple (what `make bench` measures).
//! This test notices that first.

mod support;

/// A session runs some 0.7 MB of optimised code (more unoptimised); a few
/// stray matches stay far below this.
const MIN_HOT_BYTES: u64 = 256 * 1024;
const STALE: &str = " (run `make layout`; a RUSTFLAGS variable also replaces the v0 mangling \
                     that .cargo/config.toml asks for, and the script names v0 symbols)";

#[test]
fn the_functions_a_session_runs_come_first_in_the_code() {
    let bin = support::bin();
    let bytes = std::fs::read(&bin).expect("the binary under test is readable");
    let sections = sections(&bytes).expect("the binary is a 64-bit little-endian ELF file");
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

//! Random ids for A2A messages and multipart boundaries: UUID v4 from the
//! kernel's random source, falling back to the clock and a counter where
//! `/dev/urandom` is missing (a `FROM scratch` image without `/dev`).

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// A lower-case UUID v4 (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`).
pub fn v4() -> String {
    let mut bytes = random_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format_uuid(&bytes)
}

/// A random number (same sources as [`v4`]), for jitter.
pub fn random_u64() -> u64 {
    let bytes = random_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    let from_kernel = File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !from_kernel {
        bytes = fallback_bytes();
    }
    bytes
}

/// Unique within the process and unlikely to repeat across processes; not
/// unpredictable, which ids and boundaries do not need.
fn fallback_bytes() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let high = splitmix(crate::seed::from_time_and_pid());
    let low = splitmix(high ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_le_bytes());
    bytes[8..].copy_from_slice(&low.to_le_bytes());
    bytes
}

fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn format_uuid(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_v4(id: &str) -> bool {
        let groups: Vec<&str> = id.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        lengths == [8, 4, 4, 4, 12]
            && id
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
            && groups[2].starts_with('4')
            && groups[3].starts_with(['8', '9', 'a', 'b'])
    }

    #[test]
    fn v4_has_the_version_and_variant_bits() {
        for _ in 0..200 {
            let id = v4();
            assert!(is_v4(&id), "{id}");
        }
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids: std::collections::HashSet<String> = (0..500).map(|_| v4()).collect();
        assert_eq!(ids.len(), 500);
    }

    #[test]
    fn fallback_is_unique_and_formats_as_v4() {
        let a = fallback_bytes();
        let b = fallback_bytes();
        assert_ne!(a, b);
        let mut bytes = a;
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        assert!(is_v4(&format_uuid(&bytes)));
    }

    #[test]
    fn format_is_fixed() {
        let bytes: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(format_uuid(&bytes), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}

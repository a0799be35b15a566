//! Range headers come from clients: the answer never panics, a part always lies inside the file, and the plain
//! `bytes=a-b` form (checked here against a parse written independently) gives exactly the bytes asked for,
//! with the end clamped.
#![no_main]
use fermata::catalog::stream::{ByteRange, byte_range};
use libfuzzer_sys::fuzz_target;

/// `bytes=a-b` with both numbers, nothing else. Numbers with leading zeros are left out: the parser refuses them
/// and the header is then ignored (the whole file), which RFC 9110 allows.
fn plain(header: &str) -> Option<(u64, u64)> {
    let (a, b) = header.strip_prefix("bytes=")?.split_once('-')?;
    let digits = |s: &str| {
        !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    if !digits(a) || !digits(b) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

fuzz_target!(|input: (u64, &str)| {
    let (len, header) = input;
    let len = len % (1 << 40);
    match byte_range(Some(header), len) {
        ByteRange::Part { start, end } => assert!(start <= end && end < len, "{header:?} on {len}: {start}-{end}"),
        ByteRange::Whole | ByteRange::Unsatisfiable => {}
    }
    if let Some((a, b)) = plain(header) {
        let expected = if a <= b && a < len {
            ByteRange::Part { start: a, end: b.min(len - 1) }
        } else {
            ByteRange::Unsatisfiable
        };
        assert_eq!(byte_range(Some(header), len), expected, "{header:?} on {len}");
    }
    assert_eq!(byte_range(None, len), ByteRange::Whole);
});

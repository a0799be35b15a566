//! Embedded and folder cover art is untrusted: inspecting any bytes answers without panicking, and what passes
//! is within the limits.
#![no_main]
use fermata::covers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(inspected) = covers::inspect_bytes(data) {
        assert!(inspected.width >= 1 && inspected.width <= covers::MAX_SIDE);
        assert!(inspected.height >= 1 && inspected.height <= covers::MAX_SIDE);
    }
});

//! Upload bodies come from clients (admins, or anyone holding an admin's session): the multipart framing the
//! upload endpoint runs never panics or reads past its limit, only `file` parts come out, and the file names
//! shown back are one safe line. The first byte sets the size of the reads the body arrives in.
#![no_main]
use std::sync::atomic::Ordering;

use bytes::Bytes;
use fermata::library::multipart::{self, display_name};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 32 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&read, body)) = data.split_first() else { return };
    let read = usize::from(read) + 1;
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        body.chunks(read).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let (mut parts, since_data) = multipart::files(futures::stream::iter(chunks), "fuzz", LIMIT);
    futures::executor::block_on(async {
        let mut taken = 0u64;
        while let Ok(Some(mut field)) = parts.next_field().await {
            assert_eq!(field.name(), Some("file"));
            if let Some(name) = field.file_name() {
                let shown = display_name(name);
                assert!(shown.chars().count() <= 255);
                assert!(!shown.chars().any(|c| c.is_control() || c == '/' || c == '\\'), "{shown:?}");
            }
            while let Ok(Some(chunk)) = field.chunk().await {
                since_data.store(0, Ordering::Relaxed);
                taken += chunk.len() as u64;
            }
        }
        assert!(taken <= LIMIT, "{taken} bytes of file data past the {LIMIT}-byte limit");
    });
});

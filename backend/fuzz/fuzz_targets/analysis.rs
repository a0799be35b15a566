//! The analysis decodes whatever a listener uploads or a library folder holds (#41: a 28 KB FLAC at 1 Hz once took
//! a replica from 46 to 548 MB). Any bytes, under any of the extensions symphonia decodes, answer with an analysis
//! or an error: no panic, memory bounded (scripts/fuzz runs this target with `-rss_limit_mb=128` and prints the
//! peak), and never more audio than the file's size allows.
#![no_main]
use std::io::Write;

use fermata_core::analysis;
use libfuzzer_sys::fuzz_target;

// "m4a" stays: MP4 must be refused by the in-process probe (ffmpeg analyses it), whatever the bytes.
const EXTENSIONS: [&str; 6] = ["flac", "mp3", "ogg", "wav", "m4a", "aiff"];

fuzz_target!(|data: &[u8]| {
    let Some((kind, body)) = data.split_first() else { return };
    let extension = EXTENSIONS[usize::from(*kind) % EXTENSIONS.len()];
    let mut file = tempfile::Builder::new().suffix(&format!(".{extension}")).tempfile().expect("a temp file");
    file.write_all(body).expect("written");
    if let Ok(found) = analysis::analyse(file.path(), extension) {
        let seconds = u64::try_from(found.duration_ms).unwrap_or(0) / 1000;
        assert!(seconds <= analysis::audio_budget_seconds(body.len() as u64), "{seconds} s from {} bytes", body.len());
        assert!(found.peaks.len() <= analysis::PEAK_BUCKETS);
    }
});
